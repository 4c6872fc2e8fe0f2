import { findPgBin } from '../../../sources/postgres/pg-bin';
import { verifyPostgres } from '../../../sources/postgres/verify';
import { withRepoAndWorkers } from '../../context';
import { formatDuration } from '../../format';
import { printJson } from '../../io';
import { collect, type Verb } from '../../verb';
import { defaultRestoreCommand } from './restore';
import { PG_BIN_OPTION, pgSource, SOURCE_OPTION } from './source';

export const pgVerify: Verb = {
  name: 'verify',
  summary:
    'prove a base backup restores: scratch restore, pg_verifybackup, a throw-away server, amcheck, SQL checks',
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option('--snapshot <id>', 'the base backup to verify', 'latest')
      .option('--sql <query>', 'a check that must run and not answer false (repeatable)', collect, [])
      .option('--check-db <db>', 'database the --sql checks run in', 'postgres')
      .option('--scratch <dir>', 'where the scratch copy goes (default: the temporary folder)')
      .option('--keep', 'keep the scratch copy (to look at after a failure)')
      .option(
        '--restore-command <cmd>',
        'restore_command for the scratch server (default: this zapas, this repository)',
      )
      .option(...PG_BIN_OPTION)
      .option('--json', 'print the report as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  // The base backup is restored into a scratch folder (kept with --keep): a restore.
  audit: {
    action: 'restore',
    target: (_a, opts) => ({ source: opts.source, snapshot: opts.snapshot, into: 'scratch copy (verify)' }),
  },
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const bin = findPgBin(ctx.io.env, opts.pgBin as string | undefined);
    const restoreCommand = (opts.restoreCommand as string | undefined) ?? defaultRestoreCommand(ctx, source);
    const report = await withRepoAndWorkers(ctx, (repo, pool) =>
      verifyPostgres(repo, {
        source,
        snapshot: opts.snapshot as string,
        bin,
        restoreCommand,
        sqlChecks: opts.sql as string[],
        checkDb: opts.checkDb as string,
        ...(opts.scratch ? { scratchRoot: opts.scratch as string } : {}),
        keep: Boolean(opts.keep),
        ...(pool ? { pool } : {}),
        onStep: (s) => {
          if (!opts.json && !ctx.globals.quiet)
            ctx.io.stdout.write(
              `${s.ok ? 'ok  ' : 'FAIL'} ${s.name} (${formatDuration(s.ms)}): ${s.detail}\n`,
            );
        },
      }),
    );
    if (opts.json) printJson(ctx.io, { messageType: 'summary', source, ...report });
    else if (!ctx.globals.quiet)
      ctx.io.stdout.write(
        report.ok
          ? `base backup ${report.snapshotId.slice(0, 8)} of "${source}" verified; measured recovery time ${formatDuration(report.rtoMs)}\n`
          : `base backup ${report.snapshotId.slice(0, 8)} of "${source}" FAILED verification\n`,
      );
    if (!report.ok) {
      const failed = report.steps.find((s) => !s.ok)!;
      ctx.io.stderr.write(`zapas: verification failed at ${failed.name}: ${failed.detail}\n`);
      return 1;
    }
    return 0;
  },
};
