import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobBatch } from '../../lib/repo/blob-batch';
import { batchUsedBytes } from '../../lib/repo/blob-batch';
import { blobIdOf } from '../../lib/repo/crypto';
import { encodeKeyring } from '../../lib/repo/keyring';
import { WorkerPool } from '../../lib/repo/worker-pool';
import type { BatchFileResult } from '../../lib/sources/files/read-batcher';
import { ZAPAS_WORKER } from '../support/cli';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

/** Runs a read job of one file, acknowledging the blob batches as the main thread would. */
function readJob(pool: WorkerPool, path: string, size: number): Promise<BatchFileResult[]> {
  return pool.run<BatchFileResult[]>(
    { op: 'read', files: [{ path, expect: { size, mtimeNs: '0', ctimeNs: '0' } }] },
    [],
    (msg, reply) => {
      const batch = msg as BlobBatch;
      reply({ op: 'ack', bytes: batchUsedBytes(batch), buffers: [batch.buffer] }, [batch.buffer]);
    },
  );
}

describe('a worker pool started before the key is known (warmUp, then configure)', () => {
  it('holds jobs until configured, then runs them with the keys it was given', async () => {
    const { repo } = await makeTempRepo();
    const dir = await makeTempDir();
    const path = join(dir, 'file');
    const data = randomBytes(5000);
    await writeFile(path, data);
    const pool = new WorkerPool(ZAPAS_WORKER, 1);
    try {
      pool.warmUp();
      let settled = false;
      const job = readJob(pool, path, data.length).finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(false);
      pool.configure({ keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker });
      const [result] = await job;
      expect(result).toMatchObject({ size: data.length, content: [blobIdOf(repo.keyring, data)] });
      expect(() => pool.configure({})).toThrow(/configured already/);
    } finally {
      await pool.close();
    }
  });

  it('runs at once when configured before its threads start', async () => {
    const { repo } = await makeTempRepo();
    const dir = await makeTempDir();
    const path = join(dir, 'file');
    await writeFile(path, 'hello');
    const pool = new WorkerPool(ZAPAS_WORKER, 1);
    try {
      pool.configure({ keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker });
      const [result] = await readJob(pool, path, 5);
      expect(result).toMatchObject({ size: 5, content: [blobIdOf(repo.keyring, Buffer.from('hello'))] });
    } finally {
      await pool.close();
    }
  });
});
