import type { TreeNode } from '../../repo/tree';
import { walkTree } from '../../repo/walk';
import { openRepo } from '../context';
import { printJson } from '../io';
import type { Verb } from '../verb';

function sameContent(a: TreeNode, b: TreeNode): boolean {
  return (
    a.type === b.type &&
    a.size === b.size &&
    (a.content ?? []).join() === (b.content ?? []).join() &&
    (a.linkTarget ?? a.rawLinkTarget) === (b.linkTarget ?? b.rawLinkTarget)
  );
}

function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && a.mtimeNs === b.mtimeNs;
}

export const diff: Verb = {
  name: 'diff',
  summary: 'show what changed between two snapshots (+ added, - removed, M content, U metadata)',
  args: ['<snapshot-a>', '<snapshot-b>'],
  configure: (cmd) => cmd.option('--json', 'one JSON object per change'),
  exits: [0, 1, 2, 10, 12],
  async run([refA, refB], opts, ctx) {
    const repo = await openRepo(ctx);
    const [a, b] = [await repo.findSnapshot(refA!), await repo.findSnapshot(refB!)];
    await repo.loadIndex();
    const before = new Map<string, TreeNode>();
    for await (const { path, node } of walkTree(repo, a.snapshot.tree)) before.set(path, node);
    const changes: { change: string; path: string }[] = [];
    for await (const { path, node } of walkTree(repo, b.snapshot.tree)) {
      const old = before.get(path);
      before.delete(path);
      if (!old) changes.push({ change: '+', path });
      else if (node.type !== 'dir' && !sameContent(old, node)) changes.push({ change: 'M', path });
      else if (!sameMetadata(old, node)) changes.push({ change: 'U', path });
    }
    for (const path of before.keys()) changes.push({ change: '-', path });
    changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    for (const c of changes) {
      if (opts.json) printJson(ctx.io, { messageType: 'change', ...c });
      else ctx.io.stdout.write(`${c.change}  ${c.path}\n`);
    }
    if (!opts.json && !ctx.globals.quiet) {
      const count = (k: string) => changes.filter((c) => c.change === k).length;
      ctx.io.stdout.write(
        `\n${count('+')} added, ${count('-')} removed, ${count('M')} modified, ${count('U')} metadata only\n`,
      );
    }
    return 0;
  },
};
