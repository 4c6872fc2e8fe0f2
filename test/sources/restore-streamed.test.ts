import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { Compression } from '../../lib/repo/compression';
import { AAD, blobIdOf, seal } from '../../lib/repo/crypto';
import type { BlobId } from '../../lib/repo/ids';
import { encodeKeyring } from '../../lib/repo/keyring';
import { BlobType } from '../../lib/repo/pack';
import type { Repository } from '../../lib/repo/repository';
import { encodeTree, type TreeNode } from '../../lib/repo/tree';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { backupFiles } from '../../lib/sources/files/backup';
import { ExcludeMatcher } from '../../lib/sources/files/excludes';
import { Restorer } from '../../lib/sources/files/restorer';
import { ZAPAS_WORKER } from '../support/cli';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

const MiB = 1024 * 1024;

function fileNode(name: string, content: BlobId[], size: number): TreeNode {
  return {
    name,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtimeNs: '1700000000000000000',
    ctimeNs: '1700000000000000000',
    inode: String(name.length),
    device: '1',
    links: 1,
    size,
    content,
  };
}

/**
 * A pack holding a1, b1, a2 in that order (as two workers reading two files at once leave it), and a
 * tree of a.bin = a1 + a2 and b.bin = b1. Restoring a.bin alone reads the pack in two runs: b1 (1.5 MiB)
 * is a gap too large to read through.
 */
async function interleavedRepo(): Promise<{ repo: Repository; tree: BlobId; a: Buffer }> {
  const { repo } = await makeTempRepo();
  await repo.loadIndex();
  const [a1, b1, a2] = [randomBytes(1.5 * MiB), randomBytes(1.5 * MiB), randomBytes(1.5 * MiB)];
  const writer = new BlobWriter(repo);
  const ids: BlobId[] = [];
  for (const data of [a1, b1, a2]) {
    const id = blobIdOf(repo.keyring, data);
    const sealed = seal(repo.keyring, data, AAD.blob(id));
    await writer.addPrepared({
      id,
      type: BlobType.Data,
      compression: Compression.None,
      rawLength: data.length,
      sealed,
    });
    ids.push(id);
  }
  const nodes = [fileNode('a.bin', [ids[0]!, ids[2]!], 3 * MiB), fileNode('b.bin', [ids[1]!], 1.5 * MiB)];
  const tree = await writer.save(BlobType.Tree, encodeTree({ nodes }));
  await writer.flush();
  expect(repo.index.get(ids[0]!)!.pack).toBe(repo.index.get(ids[2]!)!.pack);
  return { repo, tree, a: Buffer.concat([a1, a2]) };
}

describe('restoring a file whose blobs lie apart in one pack', () => {
  it('without workers: the file is created once and filled from both runs', async () => {
    const { repo, tree, a } = await interleavedRepo();
    const target = await makeTempDir();
    await new Restorer(repo, { include: new ExcludeMatcher(['a.bin']) }).restore(tree, target);
    expect((await readFile(join(target, 'a.bin'))).equals(a)).toBe(true);
    await expect(stat(join(target, 'b.bin'))).rejects.toThrow(/ENOENT/);
  });

  it('with workers: the same', async () => {
    const { repo, tree, a } = await interleavedRepo();
    const target = await makeTempDir();
    const pool = new WorkerPool(ZAPAS_WORKER, 2, {
      keyring: encodeKeyring(repo.keyring),
      chunker: repo.config.chunker,
    });
    try {
      await new Restorer(repo, { pool, include: new ExcludeMatcher(['a.bin']) }).restore(tree, target);
    } finally {
      await pool.close();
    }
    expect((await readFile(join(target, 'a.bin'))).equals(a)).toBe(true);
    await expect(stat(join(target, 'b.bin'))).rejects.toThrow(/ENOENT/);
  });
});

describe('restoring in batches while the tree is walked', () => {
  it('links a later name of a file that an earlier batch restored already', async () => {
    // a/first, then folders to walk (each a tree to load and a folder to make), then z/second.
    const src = await makeTempDir();
    const fillers = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, '0')}`);
    await mkdir(join(src, 'a'));
    await writeFile(join(src, 'a', 'first'), randomBytes(10_000));
    for (const f of fillers) {
      await mkdir(join(src, f));
      await writeFile(join(src, f, 'filler'), randomBytes(5_000));
    }
    await mkdir(join(src, 'z'));
    await link(join(src, 'a', 'first'), join(src, 'z', 'second'));
    const { repo } = await makeTempRepo();
    const { snapshot } = await backupFiles(repo, [src]);
    for (const pooled of [false, true]) {
      const target = await makeTempDir();
      const pool = pooled
        ? new WorkerPool(ZAPAS_WORKER, 2, {
            keyring: encodeKeyring(repo.keyring),
            chunker: repo.config.chunker,
          })
        : undefined;
      try {
        // One file per batch: a/first is restored while the fillers are walked, before z/second is.
        await new Restorer(repo, { ...(pool ? { pool } : {}), planBatchBytes: 1 }).restore(
          snapshot.tree,
          target,
        );
      } finally {
        await pool?.close();
      }
      const out = (...parts: string[]) => join(target, src, ...parts);
      const first = await stat(out('a', 'first'));
      const second = await stat(out('z', 'second'));
      expect(second.ino).toBe(first.ino);
      expect(first.nlink).toBe(2);
      expect((await readFile(out('z', 'second'))).equals(await readFile(join(src, 'a', 'first')))).toBe(true);
      for (const f of fillers)
        expect((await readFile(out(f, 'filler'))).equals(await readFile(join(src, f, 'filler')))).toBe(true);
    }
  });
});
