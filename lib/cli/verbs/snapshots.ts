import type { SnapshotRecord } from '../../repo/snapshot';
import { matchesFilter } from '../../repo/snapshot-filter';
import { openRepo } from '../context';
import { formatBytes, table } from '../format';
import { printJson } from '../io';
import { filterOf, snapshotFilterOptions } from '../snapshot-options';
import { intOption, type Verb } from '../verb';

/** Snapshot as printed by `snapshots --json` (one object per line). */
export function snapshotJson(r: SnapshotRecord): Record<string, unknown> {
  const s = r.snapshot;
  return {
    id: r.id,
    shortId: r.id.slice(0, 8),
    time: s.time,
    source: s.source,
    hostname: s.hostname,
    username: s.username,
    paths: s.paths,
    tags: s.tags,
    dataClass: s.dataClass,
    parent: s.parent ?? null,
    tree: s.tree,
    summary: s.summary,
  };
}

export const snapshots: Verb = {
  name: 'snapshots',
  summary: 'list snapshots',
  configure: (cmd) =>
    snapshotFilterOptions(cmd)
      .option('--latest <n>', 'only the n newest snapshots of each source', intOption('--latest', { min: 1 }))
      .option('--json', 'one JSON object per snapshot, a line each'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const repo = await openRepo(ctx);
    const filter = filterOf(opts);
    const damaged: string[] = [];
    const all = await repo.listSnapshots((name, err) => {
      damaged.push(name);
      ctx.io.stderr.write(`error: ${err.message}\n`);
    });
    const matching = all.filter((r) => matchesFilter(r.snapshot, filter));
    const list = opts.latest === undefined ? matching : newestOfEachSource(matching, opts.latest as number);
    if (opts.json) {
      for (const r of list) printJson(ctx.io, snapshotJson(r));
      return damaged.length === 0 ? 0 : 1;
    }
    const rows = [['ID', 'Time', 'Source', 'Tags', 'Size', 'Paths']];
    for (const r of list) {
      const s = r.snapshot;
      rows.push([
        r.id.slice(0, 8),
        s.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
        s.source,
        s.tags.join(','),
        formatBytes(s.summary.bytesProcessed),
        s.paths.join(', '),
      ]);
    }
    ctx.io.stdout.write(`${table(rows)}\n${list.length} snapshot(s)\n`);
    // The readable ones are listed; a damaged one makes the exit code say so (run `zapas check`).
    return damaged.length === 0 ? 0 : 1;
  },
};

/** The `n` newest of each source's snapshots, the list's order (oldest first) kept. */
function newestOfEachSource(list: readonly SnapshotRecord[], n: number): SnapshotRecord[] {
  const seen = new Map<string, number>();
  const kept = new Set<SnapshotRecord>();
  for (let i = list.length - 1; i >= 0; i--) {
    const r = list[i]!;
    const count = seen.get(r.snapshot.source) ?? 0;
    if (count < n) kept.add(r);
    seen.set(r.snapshot.source, count + 1);
  }
  return list.filter((r) => kept.has(r));
}
