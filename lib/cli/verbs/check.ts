import { checkRepository } from '../../repo/check';
import { Lock } from '../../repo/lock';
import { parseReadDataSubset, type ReadDataSubset, ReadDataSubsetError } from '../../repo/read-data-subset';
import { withRepoAndWorkers } from '../context';
import { UsageError } from '../errors';
import { formatBytes } from '../format';
import { printJson } from '../io';
import type { Verb } from '../verb';

export const check: Verb = {
  name: 'check',
  summary: 'check the repository for damage; name every damaged or missing object',
  configure: (cmd) =>
    cmd
      .option('--read-data', 'also read back every pack and authenticate every blob')
      .option(
        '--read-data-subset <subset>',
        'read back some packs: n/t the n-th of t fixed groups (1/5 .. 5/5 cover all), x% a random share, or a size (500M, 2G) of random packs',
      )
      .option('--json', 'print the report as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  async run(_args, opts, ctx) {
    let subset: ReadDataSubset | undefined = opts.readData ? { kind: 'all' } : undefined;
    if (opts.readDataSubset !== undefined) {
      if (opts.readData) throw new UsageError('give either --read-data or --read-data-subset, not both');
      try {
        subset = parseReadDataSubset(String(opts.readDataSubset));
      } catch (err) {
        if (!(err instanceof ReadDataSubsetError)) throw err;
        throw new UsageError(`--read-data-subset ${err.message}`, { cause: err });
      }
    }
    return withRepoAndWorkers(ctx, async (repo, pool) => {
      const lock = await Lock.acquire(repo, 'shared');
      try {
        const report = await checkRepository(repo, {
          ...(subset ? { readDataSubset: subset } : {}),
          ...(pool ? { pool } : {}),
        });
        if (opts.json)
          printJson(ctx.io, { messageType: 'summary', ok: report.errors.length === 0, ...report });
        else {
          for (const n of report.notes)
            if (!ctx.globals.quiet) ctx.io.stdout.write(`note: ${n.object}: ${n.message}\n`);
          for (const e of report.errors) ctx.io.stderr.write(`error: ${e.object}: ${e.message}\n`);
          if (!ctx.globals.quiet) {
            ctx.io.stdout.write(
              `checked ${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs${subset ? `; read back ${report.packsRead} packs (${formatBytes(report.bytesRead)})` : ''}: ${report.errors.length === 0 ? 'no errors' : `${report.errors.length} error(s)`}\n`,
            );
          }
        }
        return report.errors.length === 0 ? 0 : 1;
      } finally {
        await lock.release();
      }
    });
  },
};
