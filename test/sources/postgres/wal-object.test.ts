import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, zstdCompressSync } from 'node:zlib';
import { Compression } from '../../../lib/repo/compression';
import { open, seal } from '../../../lib/repo/crypto';
import { IntegrityError } from '../../../lib/repo/errors';
import { WalArchive, WalConflictError } from '../../../lib/sources/postgres/wal-archive';
import {
  encodeWal,
  WAL_READ_BYTES,
  WalChangedError,
  type WalContent,
} from '../../../lib/sources/postgres/wal-object';
import { makeTempRepo } from '../../support/repo';
import { makeTempDir } from '../../support/temp';
import { fakeSegment } from '../../support/wal-segments';

const SYSTEM_ID = '7300000000000000001';
const MiB = 1024 * 1024;
const AAD = Buffer.from('zapas/wal/v1/test');

/** A segment that compresses about 2:1 after its header (random bytes drawn from 16 values). */
function compressibleSegment(name: string, bytes: number): Buffer {
  const data = fakeSegment(name, SYSTEM_ID, { bytes });
  for (let i = 64; i < data.length; i++) data[i]! &= 0x0f;
  return data;
}

/** The plaintext of an archived WAL object (docs/format.md §7a). */
async function plaintextOf(
  archive: WalArchive,
  name: string,
  repo: Awaited<ReturnType<typeof makeTempRepo>>['repo'],
) {
  const objectName = archive.objectName(name);
  const sealed = await repo.storage.get(objectName);
  return open(repo.keyring, sealed, Buffer.from(`zapas/wal/v1/${archive.stanza}/${name}`), objectName);
}

describe('WAL objects written from a file read in parts', () => {
  it('pushFile archives a segment of several read buffers that fetch gives back byte-identical, in the documented layout', async () => {
    const { repo } = await makeTempRepo();
    const dir = await makeTempDir('zapas-wal-object-');
    const name = '000000010000000000000007';
    // Not a whole number of read buffers: the last part is short.
    const data = compressibleSegment(name, 3 * WAL_READ_BYTES + 12_345);
    await writeFile(join(dir, name), data);
    const archive = new WalArchive(repo, 'db');
    const now = new Date('2026-12-01T10:00:00.000Z');
    expect(await archive.pushFile(name, join(dir, name), now)).toBe('stored');
    const fetched = await new WalArchive(repo, 'db').fetch(name);
    expect(fetched?.data.equals(data)).toBe(true);
    expect(fetched?.archivedAt).toEqual(now);
    const plain = await plaintextOf(archive, name, repo);
    expect(plain[0]).toBe(1);
    expect(plain[1]).toBe(Compression.Zstd);
    expect(Number(plain.readBigUInt64LE(2))).toBe(data.length);
    expect(Number(plain.readBigUInt64LE(10))).toBe(now.getTime());
    expect(plain.subarray(18, 50).equals(createHash('sha256').update(data).digest())).toBe(true);
    // About 2:1, as one call of zstd gives (streaming through parts does not cost ratio).
    expect(plain.length - 50).toBeLessThan(data.length * 0.6);
    // A second push of the same file is "present"; another file under the name is refused.
    expect(await archive.pushFile(name, join(dir, name))).toBe('present');
    const other = Buffer.from(data);
    other[data.length - 1]! ^= 1;
    await writeFile(join(dir, name), other);
    await expect(archive.pushFile(name, join(dir, name))).rejects.toThrow(WalConflictError);
    expect((await archive.fetch(name))?.data.equals(data)).toBe(true);
  });

  it('stores a file raw when zstd would not save enough, and a short history file raw', async () => {
    const { repo } = await makeTempRepo();
    const dir = await makeTempDir('zapas-wal-object-');
    const archive = new WalArchive(repo, 'db');
    const segment = '000000010000000000000008';
    const noise = fakeSegment(segment, SYSTEM_ID, { bytes: 2 * WAL_READ_BYTES + 1 });
    const history = '00000002.history';
    const text = Buffer.from('1\t0/3000000\tno recovery target specified\n');
    for (const [name, data] of [
      [segment, noise],
      [history, text],
    ] as const) {
      await writeFile(join(dir, name), data);
      expect(await archive.pushFile(name, join(dir, name))).toBe('stored');
      const plain = await plaintextOf(archive, name, repo);
      expect(plain[1]).toBe(Compression.None);
      expect(plain.subarray(50).equals(data)).toBe(true);
      expect((await archive.fetch(name))?.data.equals(data)).toBe(true);
    }
  });

  it('reads objects as the earlier writer made them (one zstd call over the whole file)', async () => {
    const { repo } = await makeTempRepo();
    const archive = new WalArchive(repo, 'db');
    const name = '000000010000000000000009';
    const data = compressibleSegment(name, 2 * MiB);
    const header = Buffer.alloc(50);
    header[0] = 1;
    header[1] = Compression.Zstd;
    header.writeBigUInt64LE(BigInt(data.length), 2);
    header.writeBigUInt64LE(BigInt(Date.UTC(2026, 0, 1)), 10);
    createHash('sha256').update(data).digest().copy(header, 18);
    const frame = zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: 1 } });
    const aad = Buffer.from(`zapas/wal/v1/${archive.stanza}/${name}`);
    await repo.storage.put(archive.objectName(name), seal(repo.keyring, Buffer.concat([header, frame]), aad));
    const fetched = await archive.fetch(name);
    expect(fetched?.data.equals(data)).toBe(true);
    expect(fetched?.archivedAt).toEqual(new Date(Date.UTC(2026, 0, 1)));
    // A frame that holds other than the stated length is damage.
    header.writeBigUInt64LE(BigInt(data.length - 1), 2);
    const wrong = '00000001000000000000000A';
    await repo.storage.put(
      archive.objectName(wrong),
      seal(
        repo.keyring,
        Buffer.concat([header, frame]),
        Buffer.from(`zapas/wal/v1/${archive.stanza}/${wrong}`),
      ),
    );
    await expect(archive.fetch(wrong)).rejects.toThrow(IntegrityError);
    await expect(archive.fetch(wrong)).rejects.toThrow(/does not decompress/);
  });

  it('refuses a file that grows or shrinks while it is read, naming it', async () => {
    const { repo } = await makeTempRepo();
    const data = randomBytes(WAL_READ_BYTES + 100);
    const changing = (size: number): WalContent => ({
      size,
      head: async (bytes) => data.subarray(0, bytes),
      async *parts() {
        yield data.subarray(0, WAL_READ_BYTES);
        yield data.subarray(WAL_READ_BYTES);
      },
    });
    for (const size of [data.length - 1, data.length + 1])
      await expect(encodeWal(repo.keyring, AAD, 'f', changing(size), new Date())).rejects.toThrow(
        new WalChangedError(`f changed while it was archived (${size} bytes, then ${data.length})`),
      );
    // The same when only the second read (of a file stored raw) differs.
    let reads = 0;
    const secondDiffers: WalContent = {
      size: data.length,
      head: async (bytes) => data.subarray(0, bytes),
      async *parts() {
        reads++;
        yield reads === 1 ? data : randomBytes(data.length);
      },
    };
    await expect(encodeWal(repo.keyring, AAD, 'f', secondDiffers, new Date())).rejects.toThrow(
      /f changed while it was archived$/,
    );
  });
});
