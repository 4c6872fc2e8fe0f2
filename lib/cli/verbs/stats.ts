import { repositoryStats } from '../../repo/stats';
import { openRepo } from '../context';
import { formatBytes } from '../format';
import { printJson } from '../io';
import type { Verb } from '../verb';

export const stats: Verb = {
  name: 'stats',
  summary: 'repository sizes, deduplication and compression ratios',
  configure: (cmd) => cmd.option('--json', 'print as JSON'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const repo = await openRepo(ctx);
    const s = await repositoryStats(repo);
    if (opts.json) printJson(ctx.io, s);
    else {
      ctx.io.stdout.write(
        `${[
          `snapshots:            ${s.snapshots}`,
          `packs:                ${s.packs}`,
          `unique blobs:         ${s.blobs}`,
          `stored size:          ${formatBytes(s.storedBytes)}`,
          `unique data (raw):    ${formatBytes(s.uniqueRawBytes)}`,
          `all snapshots' size:  ${formatBytes(s.restoreBytes)}`,
          `deduplication ratio:  ${s.dedupRatio.toFixed(2)}x`,
          `compression ratio:    ${s.compressionRatio.toFixed(2)}x`,
          ...Object.entries(s.byDataClass).map(
            ([c, v]) => `data class ${c}: ${v.packs} packs, ${formatBytes(v.bytes)}`,
          ),
        ].join('\n')}\n`,
      );
    }
    return 0;
  },
};
