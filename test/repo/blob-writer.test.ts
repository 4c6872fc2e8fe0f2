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
    /** Runs every append of a streamed pack (a test may hold them back). */
    private readonly aroundAppend: (append: () => Promise<void>) => Promise<void> = (append) => append(),
  ) {
    this.inner = new FsStorage(dir);
    this.location = this.inner.location;
    if (mode === 'streamed')
      this.createWriter = async (folder) => {
        const w = await this.inner.createWriter(folder);
        return {
          append: (parts) => this.aroundAppend(() => w.append(parts)),
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
  it('settle() waits for a full pack whose last write is under way (deterministic)', async () => {
    if (mode === 'buffered') return expect(mode).toBe('buffered'); // copies: nothing to wait for
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const storage = new WrappedFolder(
      await makeTempDir('zapas-writer-'),
      mode,
      2,
      (w) => w(),
      async (append) => {
        await gate;
        await append();
      },
    );
    const repo = await Repository.init(storage, testKey());
    const writer = new BlobWriter(repo, 'default', 1024 * 1024);
    const blob = (buf: Buffer, data: Buffer) => {
      const id = blobIdOf(repo.keyring, data);
      const sealed = buf.subarray(0, data.length + ENVELOPE_OVERHEAD_BYTES);
      sealInto(repo.keyring.current, data, AAD.blob(id), sealed);
      return { id, type: BlobType.Data, compression: Compression.None, rawLength: data.length, sealed };
    };
    // Producer B puts one blob, a view of its batch buffer, into the open pack.
    const bBuffer = Buffer.alloc(100_000);
    const bData = randomBytes(50_000);
    expect(writer.addPrepared(blob(bBuffer, bData))).toBeUndefined();
    // Producer A fills the pack: its last blob starts the pack's write (held at the gate) and finishes it.
    let waiting: Promise<void> | undefined;
    while (waiting === undefined)
      waiting = writer.addPrepared(blob(Buffer.alloc(60_000), randomBytes(50_000)));
    // B settles before handing its buffer back: that must wait for the write of B's blob.
    let settled = false;
    const settling = writer.settle().then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    open();
    await settling;
    bBuffer.fill(0xee); // B's worker reuses the buffer
    await waiting;
    await writer.flush();
    const reopened = await Repository.open(storage, testKey());
    await reopened.loadIndex();
    expect((await reopened.loadBlob(blobIdOf(repo.keyring, bData))).equals(bData)).toBe(true);
  });

  it('two producers following the read batcher (add each blob, settle, hand the buffer back) lose nothing', async () => {
    const { storage } = await slowPacks(mode, 2);
    const repo = await Repository.init(storage, testKey());
    // Packs of 1 MiB, written out every 1 MiB: the blob that fills a pack is often the one whose write
    // the producer must wait for, which is when another producer may settle and hand its buffer back.
    const writer = new BlobWriter(repo, 'default', 1024 * 1024);
    const all: Buffer[] = [];
    const producer = async (seed: number) => {
      let memory = new ArrayBuffer(2 * 1024 * 1024);
      for (let batch = 0; batch < 16; batch++) {
        const buf = Buffer.from(memory);
        let used = 0;
        const blobs = [];
        for (let i = 0; i < 30 + ((batch * 7 + seed) % 40); i++) {
          const data = randomBytes(3_000 + ((batch * 7919 + i * 104_729 + seed) % 20_000));
          all.push(data);
          const id = blobIdOf(repo.keyring, data);
          const sealed = buf.subarray(used, used + data.length + ENVELOPE_OVERHEAD_BYTES);
          sealInto(repo.keyring.current, data, AAD.blob(id), sealed);
          used += sealed.length;
          blobs.push({
            id,
            type: BlobType.Data,
            compression: Compression.None,
            rawLength: data.length,
            sealed,
          });
        }
        for (const blob of blobs) {
          const waiting = writer.addPrepared(blob);
          if (waiting) await waiting;
        }
        await writer.settle();
        // What postMessage does when the buffer goes back to the worker: this thread's views go empty
        // and the worker overwrites the memory with its next batch.
        const moved = (memory as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
        Buffer.from(moved).fill(0xee);
        memory = moved;
      }
    };
    await Promise.all([producer(1), producer(2)]);
    await writer.flush();
    const reopened = await Repository.open(storage, testKey());
    await reopened.loadIndex();
    for (const b of all) expect((await reopened.loadBlob(blobIdOf(repo.keyring, b))).equals(b)).toBe(true);
  });

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
