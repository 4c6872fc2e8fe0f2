import { nodeDisplayName } from '../../repo/tree';
import { walkTree } from '../../repo/walk';
import { openRepo } from '../context';
import { printJson } from '../io';
import { filterOf, SNAPSHOT_FILTER_HELP, snapshotFilterOptions } from '../snapshot-options';
import type { Verb } from '../verb';

export const ls: Verb = {
  name: 'ls',
  summary: 'list the files of a snapshot',
  args: ['<snapshot>', '[path]'],
  configure: (cmd) =>
    snapshotFilterOptions(cmd)
      .option('-l, --long', 'show mode, size and time')
      .option('--json', 'one JSON object per node')
      .addHelpText('after', `\n${SNAPSHOT_FILTER_HELP}`),
  exits: [0, 1, 2, 10, 12],
  audit: { action: 'read', target: ([ref, path]) => ({ snapshot: ref, path }) },
  async run([ref, under], opts, ctx) {
    const repo = await openRepo(ctx);
    const { id, snapshot } = await repo.findSnapshot(ref!, filterOf(opts));
    await repo.loadIndex();
    if (opts.json)
      printJson(ctx.io, {
        messageType: 'snapshot',
        id,
        time: snapshot.time,
        source: snapshot.source,
        paths: snapshot.paths,
      });
    for await (const { path, node } of walkTree(repo, snapshot.tree, under ?? '/')) {
      if (opts.json) {
        printJson(ctx.io, {
          messageType: 'node',
          path,
          name: nodeDisplayName(node),
          type: node.type,
          mode: node.mode,
          uid: node.uid,
          gid: node.gid,
          size: node.size,
          mtime: new Date(Number(BigInt(node.mtimeNs) / 1_000_000n)).toISOString(),
          ...(node.type === 'symlink' ? { linkTarget: node.linkTarget ?? null } : {}),
        });
      } else if (opts.long) {
        const mode = `${node.type === 'dir' ? 'd' : node.type === 'symlink' ? 'l' : '-'}${node.mode.toString(8).padStart(4, '0')}`;
        const time = new Date(Number(BigInt(node.mtimeNs) / 1_000_000n)).toISOString();
        ctx.io.stdout.write(
          `${mode} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ${String(node.size).padStart(12)} ${time} ${path}\n`,
        );
      } else ctx.io.stdout.write(`${path}\n`);
    }
    return 0;
  },
};
