import { checkRepository } from '../../repo/check';
import { Lock } from '../../repo/lock';
import { withRepoAndWorkers } from '../context';
import { UsageError } from '../errors';
import { printJson } from '../io';
import type { Verb } from '../verb';

export const check: Verb = {
  name: 'check',
  summary: 'check the repository for damage; name every damaged or missing object',
  configure: (cmd) =>
    cmd
      .option('--read-data', 'also read back every pack and authenticate every blob')
      .option('--read-data-subset <pct>', 'read back a random share of packs, e.g. 10 or 10%')
      .option('--json', 'print the report as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  async run(_args, opts, ctx) {
    let percent = opts.readData ? 100 : 0;
    if (opts.readDataSubset !== undefined) {
      if (opts.readData) throw new UsageError('give either --read-data or --read-data-subset, not both');
      percent = Number(String(opts.readDataSubset).replace(/%$/, ''));
      if (!(percent > 0 && percent <= 100))
        throw new UsageError(
          `--read-data-subset must be a percentage in (0, 100], not "${opts.readDataSubset}"`,
        );
    }
    return withRepoAndWorkers(ctx, async (repo, pool) => {
      const lock = await Lock.acquire(repo, 'shared');
      try {
        const report = await checkRepository(repo, { readDataPercent: percent, ...(pool ? { pool } : {}) });
        if (opts.json)
          printJson(ctx.io, { messageType: 'summary', ok: report.errors.length === 0, ...report });
        else {
          for (const n of report.notes)
            if (!ctx.globals.quiet) ctx.io.stdout.write(`note: ${n.object}: ${n.message}\n`);
          for (const e of report.errors) ctx.io.stderr.write(`error: ${e.object}: ${e.message}\n`);
          if (!ctx.globals.quiet) {
            ctx.io.stdout.write(
              `checked ${report.snapshots} snapshots, ${report.packs} packs, ${report.blobs} blobs${percent > 0 ? `; read back ${report.packsRead} packs` : ''}: ${report.errors.length === 0 ? 'no errors' : `${report.errors.length} error(s)`}\n`,
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
