import type { TreeNode } from '../../repo/tree';
import { walkTree } from '../../repo/walk';
import { openRepo } from '../context';
import { printJson } from '../io';
import { filterOf, SNAPSHOT_FILTER_HELP, snapshotFilterOptions } from '../snapshot-options';
import type { Verb } from '../verb';

/** What a diff line says of a path. */
type Change = '+' | '-' | 'T' | 'M' | 'U';

function sameContent(a: TreeNode, b: TreeNode): boolean {
  return (
    a.size === b.size &&
    (a.content ?? []).join() === (b.content ?? []).join() &&
    (a.linkTarget ?? a.rawLinkTarget) === (b.linkTarget ?? b.rawLinkTarget)
  );
}

/**
 * A node's own metadata. A folder's mtime is left out: it moves whenever an entry is added or removed,
 * and those entries have lines of their own, so a folder is listed only when it itself changed (mode,
 * owner), as restic lists only the changed paths.
 */
function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  return (
    a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && (a.type === 'dir' || a.mtimeNs === b.mtimeNs)
  );
}

/** The change of a path present in both snapshots, or undefined when it did not change. */
function changeOf(old: TreeNode, now: TreeNode): Change | undefined {
  if (old.type !== now.type) return 'T';
  if (now.type !== 'dir' && !sameContent(old, now)) return 'M';
  if (!sameMetadata(old, now)) return 'U';
  return undefined;
}

const LEGEND = '+ added, - removed, T type changed, M content changed, U metadata only';

export const diff: Verb = {
  name: 'diff',
  summary: `show the paths that changed between two snapshots (${LEGEND})`,
  args: ['<snapshot-a>', '<snapshot-b>'],
  configure: (cmd) =>
    snapshotFilterOptions(cmd)
      .option('--json', 'one JSON object per change')
      .addHelpText('after', `\n${SNAPSHOT_FILTER_HELP}`),
  exits: [0, 1, 2, 10, 12],
  audit: { action: 'read', target: (refs) => ({ snapshots: refs }) },
  async run([refA, refB], opts, ctx) {
    const repo = await openRepo(ctx);
    const filter = filterOf(opts);
    const [a, b] = [await repo.findSnapshot(refA!, filter), await repo.findSnapshot(refB!, filter)];
    await repo.loadIndex();
    const before = new Map<string, TreeNode>();
    for await (const { path, node } of walkTree(repo, a.snapshot.tree)) before.set(path, node);
    const changes: { change: Change; path: string }[] = [];
    for await (const { path, node } of walkTree(repo, b.snapshot.tree)) {
      const old = before.get(path);
      before.delete(path);
      const change = old ? changeOf(old, node) : '+';
      if (change) changes.push({ change, path });
    }
    for (const path of before.keys()) changes.push({ change: '-', path });
    changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    for (const c of changes) {
      if (opts.json) printJson(ctx.io, { messageType: 'change', ...c });
      else ctx.io.stdout.write(`${c.change}  ${c.path}\n`);
    }
    if (!opts.json && !ctx.globals.quiet) {
      const count = (k: Change) => changes.filter((c) => c.change === k).length;
      ctx.io.stdout.write(
        `\n${count('+')} added, ${count('-')} removed, ${count('T')} type changed, ${count('M')} modified, ${count('U')} metadata only\n`,
      );
    }
    return 0;
  },
};
