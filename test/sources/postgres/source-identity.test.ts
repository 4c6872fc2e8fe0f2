import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { IntegrityError, RepositoryError } from '../../../lib/repo/errors';
import { sealJson } from '../../../lib/repo/sealed-json';
import { SystemIdMismatchError } from '../../../lib/sources/postgres/source-identity';
import { WalArchive } from '../../../lib/sources/postgres/wal-archive';
import { readSegmentHeader, WalHeaderError } from '../../../lib/sources/postgres/wal-header';
import { makeTempRepo } from '../../support/repo';
import { fakeSegment } from '../../support/wal-segments';

const PROD = '7300000000000000001';
const OTHER = '7399999999999999999';
const SMALL = 64 * 1024;

describe('WAL segment headers', () => {
  it('reads the system identifier, segment and block size of a segment', () => {
    const name = '0000000100000002000000A3';
    expect(readSegmentHeader(name, fakeSegment(name, PROD, { bytes: SMALL }))).toEqual({
      systemId: PROD,
      segmentBytes: 16 * 1024 * 1024,
      blockBytes: 8192,
      pageAddress: 0x2_a3000000n,
    });
    // 64 MiB segments: the same name stands for another position.
    const big = '000000010000000000000003';
    expect(
      readSegmentHeader(big, fakeSegment(big, PROD, { bytes: SMALL, segmentBytes: 64 * 1024 * 1024 }))
        .pageAddress,
    ).toBe(0x0c000000n);
  });

  it('refuses what is not the segment its name says, naming why', () => {
    const name = '000000010000000000000005';
    expect(() => readSegmentHeader(name, randomBytes(SMALL))).toThrow(WalHeaderError);
    expect(() => readSegmentHeader(name, Buffer.alloc(10))).toThrow(/10 bytes, shorter than a page header/);
    expect(() => readSegmentHeader(name, Buffer.alloc(SMALL))).toThrow(/no long header/);
    const moved = fakeSegment('000000010000000000000003', PROD, { bytes: SMALL });
    expect(() => readSegmentHeader(name, moved)).toThrow(
      /starts at 0\/3000000, the name stands for 0\/5000000/,
    );
    const badSize = fakeSegment(name, PROD, { bytes: SMALL });
    badSize.writeUInt32LE(3 * 1024 * 1024, 32);
    expect(() => readSegmentHeader(name, badSize)).toThrow(/segment size of 3145728 bytes/);
  });
});

describe("a source's cluster (system identifier)", () => {
  it('the first segment records it; a segment of another cluster is refused, naming both identifiers', async () => {
    const { repo } = await makeTempRepo();
    const archive = new WalArchive(repo, 'payments');
    const first = '000000010000000000000001';
    expect(await archive.push(first, fakeSegment(first, PROD, { bytes: SMALL }))).toBe('stored');
    expect(await archive.identity.read()).toBe(PROD);
    // A new process (no cached answer) reads the record.
    const other = new WalArchive(repo, 'payments');
    const second = '000000010000000000000002';
    const refused = other.push(second, fakeSegment(second, OTHER, { bytes: SMALL }));
    await expect(refused).rejects.toThrow(SystemIdMismatchError);
    await expect(refused).rejects.toThrow(
      new RegExp(
        `source "payments" belongs to the cluster with system identifier ${PROD}, but WAL file ${second} comes from the cluster with system identifier ${OTHER}`,
      ),
    );
    expect(await other.fetch(second)).toBeUndefined();
    // The source's own cluster goes on archiving; another source takes the other cluster.
    expect(await other.push(second, fakeSegment(second, PROD, { bytes: SMALL }))).toBe('stored');
    expect(
      await new WalArchive(repo, 'reports').push(second, fakeSegment(second, OTHER, { bytes: SMALL })),
    ).toBe('stored');
  });

  it('refuses a file that is not a segment under a segment name, and stores nothing', async () => {
    const { repo } = await makeTempRepo();
    const archive = new WalArchive(repo, 'db');
    await expect(archive.push('000000010000000000000001', randomBytes(SMALL))).rejects.toThrow(
      WalHeaderError,
    );
    expect(await archive.list()).toEqual([]);
    expect(await archive.identity.read()).toBeUndefined();
    // History files are text: nothing to read an identifier from.
    expect(await archive.push('00000002.history', Buffer.from('1\t0/3000000\tno recovery target\n'))).toBe(
      'stored',
    );
  });

  it('records once: concurrent first pushes of two clusters leave exactly one of them', async () => {
    const { repo } = await makeTempRepo();
    const name = (n: number) => `0000000100000000000000${n.toString(16).toUpperCase().padStart(2, '0')}`;
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        new WalArchive(repo, 'db').push(
          name(i + 1),
          fakeSegment(name(i + 1), i % 2 ? OTHER : PROD, { bytes: SMALL }),
        ),
      ),
    );
    const winner = await new WalArchive(repo, 'db').identity.read();
    for (const [i, r] of results.entries())
      expect(r.status).toBe((i % 2 ? OTHER : PROD) === winner ? 'fulfilled' : 'rejected');
  });

  it('a damaged record is an integrity error, not a new record', async () => {
    const { repo, dir } = await makeTempRepo();
    const archive = new WalArchive(repo, 'db');
    await archive.identity.claim(PROD, 'the server being backed up');
    const file = join(dir, archive.identity.objectName);
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 0x01;
    await writeFile(file, bytes);
    const name = '000000010000000000000001';
    await expect(
      new WalArchive(repo, 'db').push(name, fakeSegment(name, PROD, { bytes: SMALL })),
    ).rejects.toThrow(IntegrityError);
  });

  it('a sealed record of the wrong shape is refused, naming what is wrong', async () => {
    const { repo } = await makeTempRepo();
    const archive = new WalArchive(repo, 'db');
    const aad = Buffer.from(`zapas/pg-system-id/v1/${archive.stanza}`);
    const good = { version: 1, systemId: PROD, recorded: '2026-12-01T00:00:00.000Z', by: 'base backup' };
    for (const [record, why] of [
      [[good], 'not an object'],
      [{ ...good, version: 2 }, 'version 2, not 1'],
      [{ ...good, systemId: '12ab' }, 'systemId "12ab" is not a decimal system identifier'],
      [{ ...good, systemId: 7300 }, 'is not a decimal system identifier'],
      [{ ...good, by: undefined }, 'by is not a string'],
    ] as const) {
      await repo.storage.delete(archive.identity.objectName).catch(() => undefined);
      await repo.storage.put(archive.identity.objectName, sealJson(repo.keyring, record, aad).bytes);
      const read = new WalArchive(repo, 'db').identity.read();
      await expect(read).rejects.toThrow(RepositoryError);
      await expect(read).rejects.toThrow(`not a system identifier record (`);
      await expect(read).rejects.toThrow(why);
    }
    await repo.storage.delete(archive.identity.objectName);
    await repo.storage.put(archive.identity.objectName, sealJson(repo.keyring, good, aad).bytes);
    expect(await new WalArchive(repo, 'db').identity.read()).toBe(PROD);
  });
});
