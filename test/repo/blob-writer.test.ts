import { randomBytes } from 'node:crypto';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { Compression } from '../../lib/repo/compression';
import { AAD, blobIdOf, ENVELOPE_OVERHEAD_BYTES, seal, sealInto } from '../../lib/repo/crypto';
import { BlobType } from '../../lib/repo/pack';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import type {
  ByteRange,
  ObjectInfo,
  ObjectWriter,
  PutData,
  PutOptions,
  Storage,
} from '../../lib/storage/storage';
import { testKey } from '../support/repo';
import { makeTempDir } from '../support/temp';

type PackMode = 'buffered' | 'streamed';

/**
 * A local folder whose pack writes (a put, or a writer's commit) pass through `around`, and which offers
 * object writers only in 'streamed' mode (else packs are filled in memory, as for S3).
 */
class WrappedFolder implements Storage {
  readonly inner: FsStorage;
  readonly location: string;
  createWriter?: (folder: string) => Promise<ObjectWriter>;
  constructor(
    dir: string,
    mode: PackMode,
    readonly writeParallelism: number | undefined,
    private readonly around: (write: () => Promise<void>) => Promise<void>,
  ) {
    this.inner = new FsStorage(dir);
    this.location = this.inner.location;
    if (mode === 'streamed')
      this.createWriter = async (folder) => {
        const w = await this.inner.createWriter(folder);
        return {
          append: (parts) => w.append(parts),
          abort: () => w.abort(),
          commit: (name, opts) => this.around(() => w.commit(name, opts)),
        };
      };
  }
  put(name: string, data: PutData, opts?: PutOptions): Promise<void> {
    if (!name.startsWith('data/')) return this.inner.put(name, data, opts);
    return this.around(() => this.inner.put(name, data, opts));
  }
  get(name: string, range?: ByteRange): Promise<Buffer> {
    return this.inner.get(name, range);
  }
  head(name: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(name);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(name: string): Promise<void> {
    return this.inner.delete(name);
  }
}

/** Pack writes that take 30 ms, counting how many run at once. */
async function slowPacks(mode: PackMode, writeParallelism?: number) {
  const count = { running: 0, most: 0 };
  const storage = new WrappedFolder(
    await makeTempDir('zapas-writer-'),
    mode,
    writeParallelism,
    async (write) => {
      count.running++;
      count.most = Math.max(count.most, count.running);
      try {
        await new Promise((r) => setTimeout(r, 30));
        await write();
      } finally {
        count.running--;
      }
    },
  );
  return { storage, count };
}

/** Pack writes that wait until the test opens the gate (one write at a time). */
async function gatedPacks(mode: PackMode) {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const storage = new WrappedFolder(await makeTempDir('zapas-writer-'), mode, 1, async (write) => {
    await gate;
    await write();
  });
  return { storage, open: release };
}

describe.each(['buffered', 'streamed'] as const)('BlobWriter with several producers, %s packs', (mode) => {
  it('keeps a pack another producer opened while one waited to write an overflowing pack', async () => {
    const { storage, open } = await gatedPacks(mode);
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
    open();
    await large.done;
    await writer.flush();
    const reopened = await Repository.open(storage, testKey());
    await reopened.loadIndex();
    for (const b of blobs) expect((await reopened.loadBlob(blobIdOf(repo.keyring, b))).equals(b)).toBe(true);
  });
});

describe.each(['buffered', 'streamed'] as const)('BlobWriter pack writes, %s packs', (mode) => {
  it("is done with a caller's buffer once settle() resolves (a worker batch buffer is then reused)", async () => {
    const { storage } = await slowPacks(mode, 2);
    const repo = await Repository.init(storage, testKey());
    const writer = new BlobWriter(repo, 'default', 64 * 1024);
    const scratch = Buffer.alloc(200_000);
    const blobs = Array.from({ length: 40 }, (_, i) => randomBytes(1_000 + i * 3_000));
    for (const data of blobs) {
      const id = blobIdOf(repo.keyring, data);
      const sealed = scratch.subarray(0, data.length + ENVELOPE_OVERHEAD_BYTES);
      sealInto(repo.keyring.current, data, AAD.blob(id), sealed);
      await writer.addPrepared({
        id,
        type: BlobType.Data,
        compression: Compression.None,
        rawLength: data.length,
        sealed,
      });
      await writer.settle();
      scratch.fill(0xee); // the next batch overwrites the buffer
    }
    await writer.flush();
    const reopened = await Repository.open(storage, testKey());
    await reopened.loadIndex();
    for (const b of blobs) expect((await reopened.loadBlob(blobIdOf(repo.keyring, b))).equals(b)).toBe(true);
  });

  it.each([
    [undefined, 1],
    [1, 1],
    [3, 3],
  ])(
    'writes as many packs at once as the storage asks for (%s -> %s), never more',
    async (asked, expected) => {
      const { storage, count } = await slowPacks(mode, asked);
      const repo = await Repository.init(storage, testKey());
      const writer = new BlobWriter(repo, 'default', 64 * 1024);
      const blobs = Array.from({ length: 40 }, () => randomBytes(40 * 1024));
      const ids = [];
      for (const b of blobs) ids.push(await writer.save(BlobType.Data, b));
      await writer.flush();
      expect(count.most).toBe(expected);
      expect(writer.stats.packsWritten).toBe(20);
      // Every blob reads back although pack bodies were reused for later packs.
      const reopened = await Repository.open(storage, testKey());
      await reopened.loadIndex();
      for (const [i, id] of ids.entries()) expect((await reopened.loadBlob(id)).equals(blobs[i]!)).toBe(true);
    },
  );
});
