import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { checkRepository } from '../../lib/repo/check';
import { blobIdOf } from '../../lib/repo/crypto';
import { encodeKeyring } from '../../lib/repo/keyring';
import { KnownBlobs } from '../../lib/repo/known-blobs';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { Archiver, LARGE_FILE_BYTES } from '../../lib/sources/files/archiver';
import { backupFiles } from '../../lib/sources/files/backup';
import { Restorer } from '../../lib/sources/files/restorer';
import { ZAPAS_WORKER } from '../support/cli';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

/** Workers skip sealing blobs the filter holds; a filter hit the repository does not back must not lose data. */
describe('backups with the known-blob filter', () => {
  it('a blob skipped on a false hit is read again and stored: check passes, restore equals the source', async () => {
    const { repo } = await makeTempRepo();
    await repo.loadIndex();
    const src = await makeTempDir();
    const small = randomBytes(20_000); // read in its folder's scan job
    const large = randomBytes(LARGE_FILE_BYTES + 1000); // read apart
    await writeFile(join(src, 'small.bin'), small);
    await writeFile(join(src, 'large.bin'), large);
    // Ids that share their first 64 bits with the files' chunks (and differ after): the filter says
    // "stored" for chunks the repository has never seen.
    const lookalike = (id: string) =>
      `${id.slice(0, 16)}${id.slice(16).replace(/./g, (c) => (c === '0' ? '1' : '0'))}`;
    const planted = new KnownBlobs();
    for (const data of [small, large]) {
      let at = 0;
      for (const n of repo.chunker.split(data)) {
        planted.add(lookalike(blobIdOf(repo.keyring, data.subarray(at, at + n))));
        at += n;
      }
    }
    const pool = new WorkerPool(ZAPAS_WORKER, 2, {
      keyring: encodeKeyring(repo.keyring),
      chunker: repo.config.chunker,
    });
    const writer = new BlobWriter(repo);
    writer.known = planted;
    let tree: Awaited<ReturnType<Archiver['archive']>>;
    try {
      tree = await new Archiver(repo, writer, { pool }).archive([src]);
      await writer.flush();
    } finally {
      await pool.close();
    }
    expect(tree.filesNew).toBe(2);
    expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
    const target = await makeTempDir();
    await new Restorer(repo).restore(tree.tree, target);
    expect((await readFile(join(target, src, 'small.bin'))).equals(small)).toBe(true);
    expect((await readFile(join(target, src, 'large.bin'))).equals(large)).toBe(true);
  });

  it('a forced backup of stored data sends (almost) nothing, and its snapshot restores', async () => {
    const { repo } = await makeTempRepo();
    const src = await makeTempDir();
    const data = randomBytes(3 * 1024 * 1024);
    await writeFile(join(src, 'db.bin'), data);
    const pool = new WorkerPool(ZAPAS_WORKER, 2, {
      keyring: encodeKeyring(repo.keyring),
      chunker: repo.config.chunker,
    });
    try {
      await backupFiles(repo, [src], { pool });
      let read = 0;
      const again = await backupFiles(repo, [src], {
        pool,
        force: true,
        onProgress: (p) => (read = p.bytesRead),
      });
      // Only the tree blobs are new; no data blob crossed from the workers.
      expect(again.snapshot.summary.blobsAdded).toBeLessThanOrEqual(3);
      expect(read).toBe(0);
      const target = await makeTempDir();
      await new Restorer(repo).restore(again.snapshot.tree, target);
      expect((await readFile(join(target, src, 'db.bin'))).equals(data)).toBe(true);
    } finally {
      await pool.close();
    }
    const report = await checkRepository(repo, { readDataPercent: 100 });
    expect(report.errors).toEqual([]);
  });
});
