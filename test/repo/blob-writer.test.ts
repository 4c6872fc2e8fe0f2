import { randomBytes } from 'node:crypto';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { Compression } from '../../lib/repo/compression';
import { AAD, blobIdOf, seal } from '../../lib/repo/crypto';
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

/** A local folder whose first pack write waits until the test opens the gate. */
class GatedPacks extends FsStorage {
  readonly writeParallelism = 1;
  private opened = false;
  private release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  open(): void {
    this.opened = true;
    this.release();
  }
  override async put(name: string, data: PutData, opts?: PutOptions): Promise<void> {
    if (name.startsWith('data/') && !this.opened) await this.gate;
    return super.put(name, data, opts);
  }
}

describe('BlobWriter with several producers (worker batches arrive concurrently)', () => {
  it('keeps a pack another producer opened while one waited to write an overflowing pack', async () => {
    const storage = new GatedPacks(await makeTempDir('zapas-writer-'));
    const repo = await Repository.init(storage, testKey());
    const writer = new BlobWriter(repo, 'default', 64 * 1024);
    const add = (data: Buffer) => {
      const id = blobIdOf(repo.keyring, data);
      const sealed = seal(repo.keyring, data, AAD.blob(id));
      return {
        id,
        done: writer.addPrepared({
          id,
          type: BlobType.Data,
          compression: Compression.None,
          rawLength: data.length,
          sealed,
        }),
      };
    };
    const blobs = [randomBytes(70_000), randomBytes(20_000), randomBytes(1_100_000), randomBytes(10_000)];
    // A fills a pack, whose write waits at the gate (the one write slot is taken).
    await add(blobs[0]!).done;
    await add(blobs[1]!).done;
    // A's large blob overflows the open pack: A waits for the slot to write it...
    const large = add(blobs[2]!);
    await new Promise((r) => setTimeout(r, 20));
    // ...while B opens a new pack with a small blob.
    await add(blobs[3]!).done;
    storage.open();
    await large.done;
    await writer.flush();
    const reopened = await Repository.open(storage, testKey());
    await reopened.loadIndex();
    for (const b of blobs) expect((await reopened.loadBlob(blobIdOf(repo.keyring, b))).equals(b)).toBe(true);
  });
});

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
