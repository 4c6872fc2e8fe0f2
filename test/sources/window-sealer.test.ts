import { randomBytes } from 'node:crypto';
import { BlobWriter } from '../../lib/repo/blob-writer';
import { checkRepository } from '../../lib/repo/check';
import { blobIdOf } from '../../lib/repo/crypto';
import type { BlobId } from '../../lib/repo/ids';
import { encodeKeyring } from '../../lib/repo/keyring';
import { KnownBlobs } from '../../lib/repo/known-blobs';
import type { Repository } from '../../lib/repo/repository';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { WINDOW_BYTES, WindowSealer } from '../../lib/sources/window-sealer';
import { ZAPAS_WORKER } from '../support/cli';
import { makeTempRepo } from '../support/repo';

const MiB = 1024 * 1024;

/** The ids a file must get: its chunks of the repository's average size, at fixed offsets. */
function expectedIds(repo: Repository, data: Buffer): BlobId[] {
  const size = repo.chunker.params.avgBytes;
  const ids: BlobId[] = [];
  for (let at = 0; at < data.length; at += size)
    ids.push(blobIdOf(repo.keyring, data.subarray(at, Math.min(at + size, data.length))));
  return ids;
}

/** Streams `files` through a window sealer in pieces of `piece` bytes (as a socket would hand them over). */
async function seal(
  repo: Repository,
  writer: BlobWriter,
  files: Buffer[],
  pool: WorkerPool | undefined,
  piece = 100_000,
): Promise<BlobId[][]> {
  const sealer = new WindowSealer(writer, repo.chunker, pool);
  const done: Promise<BlobId[]>[] = [];
  for (const data of files) {
    const file = sealer.begin(data.length);
    for (let at = 0; at < data.length; at += piece) {
      file.add(data.subarray(at, at + piece));
      const wait = sealer.pressure();
      if (wait) await wait;
    }
    done.push(file.finish());
  }
  sealer.flush();
  const ids = await Promise.all(done);
  await writer.flush();
  return ids;
}

function workers(repo: Repository): WorkerPool {
  return new WorkerPool(ZAPAS_WORKER, 2, {
    keyring: encodeKeyring(repo.keyring),
    chunker: repo.config.chunker,
  });
}

describe('WindowSealer (streamed files in fixed-size chunks, hashed and sealed by the workers)', () => {
  // A file of several windows and a ragged end, small files packed into shared jobs, an empty one.
  const files = [
    randomBytes(2 * WINDOW_BYTES + 3 * MiB + 17),
    randomBytes(5000),
    Buffer.alloc(0),
    randomBytes(MiB),
  ];

  for (const withPool of [true, false]) {
    it(`gives each file the ids of its fixed-size chunks, and stores them (${withPool ? 'worker threads' : 'no workers'})`, async () => {
      const { repo } = await makeTempRepo();
      await repo.loadIndex();
      const pool = withPool ? workers(repo) : undefined;
      let ids: BlobId[][];
      try {
        ids = await seal(repo, new BlobWriter(repo), files, pool);
      } finally {
        await pool?.close();
      }
      expect(ids).toEqual(files.map((f) => expectedIds(repo, f)));
      expect(ids[0]!.length).toBe(Math.ceil(files[0]!.length / MiB));
      const back = Buffer.concat(await Promise.all(ids[0]!.map((id) => repo.loadBlob(id))));
      expect(back.equals(files[0]!)).toBe(true);
      expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
    });
  }

  it('a second pass over stored data crosses from the workers as ids only', async () => {
    const { repo } = await makeTempRepo();
    await repo.loadIndex();
    const pool = workers(repo);
    try {
      await seal(repo, new BlobWriter(repo), files, pool);
      await repo.loadIndex();
      const writer = new BlobWriter(repo);
      writer.known = KnownBlobs.fromIndex(repo.index, writer.dataClass);
      let prepared = 0;
      const addPrepared = writer.addPrepared.bind(writer);
      writer.addPrepared = (blob) => {
        prepared++;
        return addPrepared(blob);
      };
      const ids = await seal(repo, writer, files, pool);
      expect(ids).toEqual(files.map((f) => expectedIds(repo, f)));
      expect(prepared).toBe(0);
      expect(writer.stats.blobsAdded).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('a page rewritten in place costs one new chunk', async () => {
    const { repo } = await makeTempRepo();
    await repo.loadIndex();
    const pool = workers(repo);
    try {
      const before = files[0]!;
      const after = Buffer.from(before);
      randomBytes(8192).copy(after, WINDOW_BYTES + 5 * 8192); // one 8 KiB page of the second window
      await seal(repo, new BlobWriter(repo), [before], pool);
      await repo.loadIndex();
      const writer = new BlobWriter(repo);
      writer.known = KnownBlobs.fromIndex(repo.index, writer.dataClass);
      const [ids] = await seal(repo, writer, [after], pool);
      expect(writer.stats.blobsAdded).toBe(1);
      const back = Buffer.concat(await Promise.all(ids!.map((id) => repo.loadBlob(id))));
      expect(back.equals(after)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('a chunk skipped on a false hit of the known-blob filter is stored from the job buffer', async () => {
    const { repo } = await makeTempRepo();
    await repo.loadIndex();
    const data = randomBytes(WINDOW_BYTES + 2 * MiB);
    // Ids sharing their first 64 bits with the chunks': the filter says "stored" for chunks never seen.
    const lookalike = (id: string) =>
      `${id.slice(0, 16)}${id.slice(16).replace(/./g, (c) => (c === '0' ? '1' : '0'))}`;
    const writer = new BlobWriter(repo);
    writer.known = new KnownBlobs();
    for (const id of expectedIds(repo, data)) writer.known.add(lookalike(id));
    const pool = workers(repo);
    let ids: BlobId[][];
    try {
      ids = await seal(repo, writer, [data], pool);
    } finally {
      await pool.close();
    }
    expect(writer.stats.blobsAdded).toBe(ids[0]!.length);
    const back = Buffer.concat(await Promise.all(ids[0]!.map((id) => repo.loadBlob(id))));
    expect(back.equals(data)).toBe(true);
    expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
  });

  it('refuses a file that sends more or fewer bytes than it announced', async () => {
    const { repo } = await makeTempRepo();
    await repo.loadIndex();
    const sealer = new WindowSealer(new BlobWriter(repo), repo.chunker);
    const long = sealer.begin(10);
    expect(() => long.add(Buffer.alloc(11))).toThrow(/more than the 10 bytes it announced/);
    const sealer2 = new WindowSealer(new BlobWriter(repo), repo.chunker);
    const short = sealer2.begin(10);
    short.add(Buffer.alloc(4));
    await expect(short.finish()).rejects.toThrow(/ended after 4 of the 10 bytes/);
    expect(() => sealer2.flush()).toThrow(/in the middle of a file/);
  });
});
