import { readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Compression } from '../../lib/repo/compression';
import { AAD, blobIdOf, seal } from '../../lib/repo/crypto';
import { generateKeyring } from '../../lib/repo/keyring';
import { restoreRun } from '../../lib/sources/files/worker-jobs';
import { makeTempDir } from '../support/temp';

const keyring = generateKeyring();

/** One restore job writing `data` at `offset` of `path`, and (unless `finish` is false) finishing the file there. */
function job(path: string, data: Buffer, offset: number, size: number, mode: number, finish = true) {
  const id = blobIdOf(keyring, data);
  const sealed = seal(keyring, data, AAD.blob(id));
  return {
    packName: 'data/00/test',
    start: 0,
    bytes: new Uint8Array(sealed),
    asRoot: false,
    blobs: [
      {
        id,
        offset: 0,
        length: sealed.length,
        rawLength: data.length,
        compression: Compression.None,
        targets: [
          {
            path: Buffer.from(path),
            offset,
            ...(finish ? { finish: { size, mode, uid: 0, gid: 0, mtimeNs: '1700000000123456789' } } : {}),
          },
        ],
      },
    ],
  };
}

describe('a restore job finishing a file', () => {
  it('creates a new file with its final mode and length', async () => {
    const path = join(await makeTempDir(), 'new.bin');
    restoreRun(keyring, job(path, Buffer.from('hello'), 0, 5, 0o640));
    expect(statSync(path).mode & 0o7777).toBe(0o640);
    expect(await readFile(path, 'utf8')).toBe('hello');
  });

  it('never finishes a file that exists already: a run alone fills a file it finishes, so that is not ours', async () => {
    const path = join(await makeTempDir(), 'big.bin');
    writeFileSync(path, 'AAAA', { mode: 0o600 });
    expect(() => restoreRun(keyring, job(path, Buffer.from('BBBB'), 4, 12, 0o751))).toThrow(/EEXIST/);
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe('AAAA');
  });

  it('leaves a zero tail as a hole and sets the length of a file it finishes', async () => {
    const path = join(await makeTempDir(), 'big.bin');
    restoreRun(keyring, job(path, Buffer.from('BBBB'), 4, 12, 0o751)); // then 4 zero bytes: a hole
    const s = statSync(path);
    expect(s.mode & 0o7777).toBe(0o751);
    expect(s.size).toBe(12);
    expect(s.mtimeMs).toBe(1700000000123.4568);
    expect((await readFile(path)).equals(Buffer.from('\0\0\0\0BBBB\0\0\0\0'))).toBe(true);
  });

  it('writes into a file of several runs only when it exists, never creating or following a link', async () => {
    const dir = await makeTempDir();
    const outside = join(dir, 'outside');
    writeFileSync(outside, 'keep', { mode: 0o644 });
    const path = join(dir, 'part.bin');
    symlinkSync(outside, path);
    expect(() => restoreRun(keyring, job(path, Buffer.from('BBBB'), 0, 4, 0o644, false))).toThrow(/ELOOP/);
    expect(readFileSync(outside, 'utf8')).toBe('keep');
    const missing = join(dir, 'missing.bin');
    expect(() => restoreRun(keyring, job(missing, Buffer.from('BBBB'), 0, 4, 0o644, false))).toThrow(
      /ENOENT/,
    );
  });

  it('applies special bits, which a mode given at creation would not carry', async () => {
    const path = join(await makeTempDir(), 'tool');
    restoreRun(keyring, job(path, Buffer.from('#!/bin/sh\n'), 0, 10, 0o2755));
    expect(statSync(path).mode & 0o7777).toBe(0o2755);
  });
});
