import { parseDuration, subtractDuration } from '../../policy/duration';
import { pruneRepository } from '../../repo/prune';
import { openRepo } from '../context';
import { formatBytes } from '../format';
import { printJson } from '../io';
import type { Verb } from '../verb';

/** Grace period in ms from a duration such as `24h` (default 0: safe for cooperating clients, see docs/locking.md). */
export function parseGrace(text: string | undefined): number {
  if (!text) return 0;
  const now = new Date();
  return now.getTime() - subtractDuration(now, parseDuration(text)).getTime();
}

export const prune: Verb = {
  name: 'prune',
  summary: 'free space: mark data no snapshot needs, delete what earlier marks condemned',
  configure: (cmd) =>
    cmd
      .option('-n, --dry-run', 'show what would be marked, change nothing')
      .option(
        '--grace <duration>',
        'delete condemned packs only once their mark is this old, e.g. 24h (default 0h)',
      )
      .option('--json', 'print the report as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  async run(_args, opts, ctx) {
    const repo = await openRepo(ctx);
    const report = await pruneRepository(repo, {
      dryRun: Boolean(opts.dryRun),
      graceMs: parseGrace(opts.grace as string | undefined),
      onInfo: (line) => !ctx.globals.quiet && !opts.json && ctx.io.stdout.write(`${line}\n`),
    });
    if (opts.json) printJson(ctx.io, { messageType: 'summary', dryRun: Boolean(opts.dryRun), ...report });
    else if (!ctx.globals.quiet) {
      ctx.io.stdout.write(
        `${opts.dryRun ? 'would mark' : 'marked'} ${report.marked.packs} pack(s) (${formatBytes(report.marked.bytes)}), repacked ${report.repacked.packs}, deleted ${report.deleted.packs} (${formatBytes(report.deleted.bytes)} freed), ${report.waiting} waiting for their grace period or running backups\n`,
      );
    }
    return 0;
  },
};
