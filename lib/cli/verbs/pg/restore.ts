import { isAbsolute, resolve } from 'node:path';
import { restorePostgres } from '../../../sources/postgres/physical-restore';
import {
  ARCHIVE_MODES,
  type ArchiveMode,
  shellWord,
  type TargetAction,
} from '../../../sources/postgres/recovery-settings';
import type { RecoveryTarget } from '../../../sources/postgres/recovery-target';
import { parseLsn } from '../../../sources/postgres/wal-names';
import { repoUrl, type VerbContext, withRepoAndWorkers } from '../../context';
import { UsageError } from '../../errors';
import { formatBytes } from '../../format';
import { printJson } from '../../io';
import { ProgressLine } from '../../progress';
import { selfCommand } from '../../self';
import { filterOf, snapshotFilterOptions } from '../../snapshot-options';
import { collect, type Verb, type VerbOptions } from '../../verb';
import { pgSource, SOURCE_OPTION } from './source';

export const pgRestore: Verb = {
  name: 'restore',
  summary: 'restore a base backup into a new data directory, set to recover to a point in time',
  configure: (cmd) =>
    snapshotFilterOptions(cmd, { source: false })
      .option(...SOURCE_OPTION)
      .requiredOption('-t, --target <dir>', 'the new data directory (must be empty or absent)')
      .option(
        '--snapshot <id>',
        'base backup to restore (default: the newest that ends before the target)',
        'latest',
      )
      .option('--time <timestamp>', 'recover to this moment, with its zone: "2026-12-02 14:00:05+03"')
      .option('--lsn <lsn>', 'recover to this WAL position, e.g. 0/16B3740')
      .option('--xid <xid>', 'recover to this transaction id')
      .option('--name <restore-point>', 'recover to a restore point made with pg_create_restore_point()')
      .option('--promote', 'open for writes once the target is reached')
      .option('--pause', 'pause at the target so it can be inspected (the default with a target)')
      .option(
        '--tablespace-mapping <old=new>',
        'restore a tablespace (its OID or old folder) elsewhere (repeatable)',
        collect,
        [],
      )
      .option(
        '--archive-mode <mode>',
        'off: the restored server does not archive (a copy must not push its timeline into the source); preserve: it archives as the backed-up server did (it replaces that server)',
        'off',
      )
      .option(
        '--restore-command <cmd>',
        'restore_command for the restored server (default: this zapas, this repository)',
      )
      .option('--json', 'print the result as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  audit: {
    action: 'restore',
    target: (_args, opts) => ({ source: opts.source, snapshot: opts.snapshot, target: opts.target }),
  },
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const recoveryTarget = targetOf(opts);
    if (opts.promote && opts.pause) throw new UsageError('give --promote or --pause, not both');
    const action: TargetAction = opts.promote ? 'promote' : 'pause';
    const archiveMode = opts.archiveMode as ArchiveMode;
    if (!ARCHIVE_MODES.includes(archiveMode))
      throw new UsageError(`--archive-mode must be ${ARCHIVE_MODES.join(' or ')}, not "${archiveMode}"`);
    const tablespaceMapping = new Map(
      (opts.tablespaceMapping as string[]).map((m) => {
        const at = m.indexOf('=');
        if (at <= 0 || at === m.length - 1)
          throw new UsageError(
            `--tablespace-mapping wants OLD=NEW (an OID or old folder, then the new one), not "${m}"`,
          );
        return [m.slice(0, at), resolve(m.slice(at + 1))] as const;
      }),
    );
    const restoreCommand = (opts.restoreCommand as string | undefined) ?? defaultRestoreCommand(ctx, source);
    const progress = new ProgressLine(ctx, 'pg restore');
    const result = await withRepoAndWorkers(ctx, (repo, pool) =>
      restorePostgres(repo, {
        source,
        target: opts.target as string,
        snapshot: opts.snapshot as string,
        filter: filterOf(opts, { source: false }),
        recoveryTarget,
        action,
        archiveMode,
        restoreCommand,
        tablespaceMapping,
        ...(pool ? { pool } : {}),
        onProgress: (bytes) => progress.update(0, bytes),
      }),
    );
    progress.done();
    if (opts.json) printJson(ctx.io, { messageType: 'summary', ...result });
    else if (!ctx.globals.quiet)
      ctx.io.stdout.write(
        `restored base backup ${result.snapshotId.slice(0, 8)} (ended ${result.info.stopTime}; ${formatBytes(result.bytes)}) to ${opts.target}\n` +
          `start postgres on it to recover${recoveryTarget.kind === 'end' ? ' to the end of the archived WAL' : ` to the target, then ${action}`}; settings added to postgresql.auto.conf:\n` +
          result.settings.map((l) => `  ${l}\n`).join(''),
      );
    return 0;
  },
};

/** The one recovery target the options name (none: the end of the WAL). */
function targetOf(opts: VerbOptions): RecoveryTarget {
  const given = (['time', 'lsn', 'xid', 'name'] as const).filter((k) => opts[k] !== undefined);
  if (given.length > 1)
    throw new UsageError(`give one recovery target, not ${given.map((g) => `--${g}`).join(' and ')}`);
  if (opts.time !== undefined)
    return { kind: 'time', time: parseTime(opts.time as string), text: opts.time as string };
  if (opts.lsn !== undefined) {
    try {
      return { kind: 'lsn', lsn: parseLsn(opts.lsn as string), text: opts.lsn as string };
    } catch (err) {
      throw new UsageError(`--lsn: ${(err as Error).message}`);
    }
  }
  if (opts.xid !== undefined) {
    if (!/^\d+$/.test(opts.xid as string))
      throw new UsageError(`--xid must be a transaction id (digits), not "${opts.xid}"`);
    return { kind: 'xid', xid: opts.xid as string };
  }
  if (opts.name !== undefined) return { kind: 'name', name: opts.name as string };
  return { kind: 'end' };
}

/** A moment with its zone: ISO 8601 or PostgreSQL's "YYYY-MM-DD HH:MM:SS[.fff]±HH[:MM]". */
export function parseTime(text: string): Date {
  const m = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d(?::\d\d(?:\.\d+)?)?)\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)$/i.exec(
    text.trim(),
  );
  if (!m)
    throw new UsageError(
      `--time "${text}" is not a moment with its zone: write e.g. "2026-12-02 14:00:05+03" or "2026-12-02T11:00:05Z"`,
    );
  const zone = /^(z|utc)$/i.test(m[3]!)
    ? 'Z'
    : m[3]!.length === 3
      ? `${m[3]}:00`
      : m[3]!.replace(/^([+-]\d\d)(\d\d)$/, '$1:$2');
  const date = new Date(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--time "${text}" is not a valid date`);
  return date;
}

/**
 * restore_command for the restored server: this program with this repository and password file (the
 * server's environment has neither), fetching this source's WAL. The password itself never goes in.
 */
export function defaultRestoreCommand(ctx: VerbContext, source: string): string {
  const passwordFile = ctx.globals.passwordFile ?? ctx.io.env.ZAPAS_PASSWORD_FILE;
  if (!passwordFile)
    throw new UsageError(
      'the restored server fetches WAL with zapas and needs the repository password from a file: pass --password-file or set ZAPAS_PASSWORD_FILE (or give --restore-command)',
    );
  const url = repoUrl(ctx);
  const repo = /^[a-z0-9]+:\/\//i.test(url) || isAbsolute(url) ? url : resolve(url);
  const endpoint = ctx.globals.s3Endpoint ?? ctx.io.env.ZAPAS_S3_ENDPOINT;
  const words = [
    ...selfCommand(),
    '--repo',
    repo,
    '--password-file',
    resolve(passwordFile),
    ...(endpoint ? ['--s3-endpoint', endpoint] : []),
    'pg',
    'wal-fetch',
    '--source',
    source,
  ];
  return `${words.map(shellWord).join(' ')} %f %p`;
}
