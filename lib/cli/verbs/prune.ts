import { parseDuration, subtractDuration } from '../../policy/duration';
import { pruneRepository } from '../../repo/prune';
import type { Repository } from '../../repo/repository';
import { applyWalExpiry, planWalExpiry } from '../../sources/postgres/wal-retention';
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

/**
 * Archived WAL that no kept base backup needs goes with prune (wal-retention.ts); returns how many files,
 * after saying which on the info channel.
 */
export async function expireWal(
  repo: Repository,
  opts: { dryRun: boolean; onInfo: (line: string) => void },
): Promise<{ walFiles: number; walBytes: number }> {
  const plans = await planWalExpiry(repo, await repo.listSnapshots());
  let walBytes = 0;
  for (const p of plans) {
    const bytes = p.remove.reduce((n, e) => n + e.size, 0);
    walBytes += bytes;
    opts.onInfo(
      `${opts.dryRun ? 'would remove' : 'removing'} ${p.remove.length} WAL file(s) (${formatBytes(bytes)}) of source "${p.source}" from before ${p.keepFrom}, where its oldest base backup starts`,
    );
  }
  const walFiles = opts.dryRun
    ? plans.reduce((n, p) => n + p.remove.length, 0)
    : await applyWalExpiry(repo, plans);
  return { walFiles, walBytes };
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
  audit: {
    action: 'delete',
    target: (_args, opts) => ({ grace: opts.grace }),
    skip: (opts) => Boolean(opts.dryRun),
  },
  async run(_args, opts, ctx) {
    const repo = await openRepo(ctx);
    const onInfo = (line: string) => !ctx.globals.quiet && !opts.json && ctx.io.stdout.write(`${line}\n`);
    const packs = await pruneRepository(repo, {
      dryRun: Boolean(opts.dryRun),
      graceMs: parseGrace(opts.grace as string | undefined),
      onInfo,
    });
    const report = { ...packs, ...(await expireWal(repo, { dryRun: Boolean(opts.dryRun), onInfo })) };
    if (opts.json) printJson(ctx.io, { messageType: 'summary', dryRun: Boolean(opts.dryRun), ...report });
    else if (!ctx.globals.quiet) {
      ctx.io.stdout.write(
        `${opts.dryRun ? 'would mark' : 'marked'} ${report.marked.packs} pack(s) (${formatBytes(report.marked.bytes)}), repacked ${report.repacked.packs}, deleted ${report.deleted.packs} (${formatBytes(report.deleted.bytes)} freed), ${report.waiting} waiting for their grace period or running backups; ${report.walFiles} WAL file(s) ${opts.dryRun ? 'would be ' : ''}removed\n`,
      );
    }
    return 0;
  },
};
