import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeKeyring } from '../../lib/repo/keyring';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { Restorer } from '../../lib/sources/files/restorer';
import { ZAPAS_WORKER } from '../support/cli';
import { type CraftedNode, craftSnapshot } from '../support/hostile-tree';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

/**
 * A file filled from two packs far apart in the restore's order (its first chunk shared with an earlier
 * file, the rest written much later, as a backup after a crash or a deduplicated copy lays it out): the
 * later pack's run starts only after the first one finished. That run must still treat the file as one
 * several runs fill (created already, only reopened), not as its own to create.
 */
describe('a file whose runs are far apart in the restore', () => {
  it.each([0, 1, 2])('is created once and restored whole (%i worker threads)', async (threads) => {
    const { repo } = await makeTempRepo();
    const shared = randomBytes(64 * 1024);
    const tail = randomBytes(64 * 1024);
    const nodes: CraftedNode[] = [
      { name: 'a-first', type: 'file', data: shared },
      // Many packs between: more runs than the workers take at once (6 per thread).
      ...Array.from({ length: 30 }, (_, i) => ({
        name: `b-${String(i).padStart(2, '0')}`,
        type: 'file' as const,
        data: randomBytes(64 * 1024),
      })),
      { name: 'x-both', type: 'file', chunks: [shared, tail] },
    ];
    // Every blob in a pack of its own.
    const id = await craftSnapshot(repo, nodes, { packTargetBytes: 1 });
    const { snapshot } = await repo.findSnapshot(id);
    const target = join(await makeTempDir(), 'restored');
    const pool =
      threads > 0
        ? new WorkerPool(ZAPAS_WORKER, threads, {
            keyring: encodeKeyring(repo.keyring),
            chunker: repo.config.chunker,
          })
        : undefined;
    try {
      const result = await new Restorer(repo, { ...(pool ? { pool } : {}), verify: true }).restore(
        snapshot.tree,
        target,
      );
      expect(result.files).toBe(nodes.length);
    } finally {
      await pool?.close();
    }
    expect((await readFile(join(target, 'x-both'))).equals(Buffer.concat([shared, tail]))).toBe(true);
    expect((await readFile(join(target, 'a-first'))).equals(shared)).toBe(true);
  });
});
