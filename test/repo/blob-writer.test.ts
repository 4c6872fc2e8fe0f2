import { randomBytes } from 'node:crypto';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { BlobType } from '../../lib/repo/pack';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import type { PutData, PutOptions } from '../../lib/storage/storage';
import { testKey } from '../support/repo';
import { makeTempDir } from '../support/temp';

/** A local folder whose pack writes are slow, counting how many run at once. */
class SlowPacks extends FsStorage {
  running = 0;
  most = 0;
  constructor(
    dir: string,
    readonly writeParallelism?: number,
  ) {
    super(dir);
  }
  override async put(name: string, data: PutData, opts?: PutOptions): Promise<void> {
    if (!name.startsWith('data/')) return super.put(name, data, opts);
    this.running++;
    this.most = Math.max(this.most, this.running);
    try {
      await new Promise((r) => setTimeout(r, 30));
      await super.put(name, data, opts);
    } finally {
      this.running--;
    }
  }
}

describe('BlobWriter pack uploads', () => {
  it.each([
    [undefined, 1],
    [1, 1],
    [3, 3],
  ])(
    'writes as many packs at once as the storage asks for (%s -> %s), never more',
    async (asked, expected) => {
      const storage = new SlowPacks(await makeTempDir('zapas-writer-'), asked);
      const repo = await Repository.init(storage, testKey());
      const writer = new BlobWriter(repo, 'default', 64 * 1024);
      const blobs = Array.from({ length: 40 }, () => randomBytes(40 * 1024));
      const ids = [];
      for (const b of blobs) ids.push(await writer.save(BlobType.Data, b));
      await writer.flush();
      expect(storage.most).toBe(expected);
      expect(writer.stats.packsWritten).toBe(20);
      // Every blob reads back although pack bodies were reused for later packs.
      const reopened = await Repository.open(storage, testKey());
      await reopened.loadIndex();
      for (const [i, id] of ids.entries()) expect((await reopened.loadBlob(id)).equals(blobs[i]!)).toBe(true);
    },
  );
});
