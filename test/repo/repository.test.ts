import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  IntegrityError,
  RepositoryExistsError,
  RepositoryNotFoundError,
  WrongKeyError,
} from '../../lib/repo/errors';
import { decodeKeyring, encodeKeyring, generateKeyring } from '../../lib/repo/keyring';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { flipBit } from '../support/damage';
import { makeTempRepo, testKey } from '../support/repo';
import { makeTempDir } from '../support/temp';

describe('Repository open and init', () => {
  it('opens with the right password only', async () => {
    const { storage } = await makeTempRepo();
    await expect(Repository.open(storage, testKey())).resolves.toBeInstanceOf(Repository);
    await expect(Repository.open(storage, testKey('wrong'))).rejects.toThrow(WrongKeyError);
  });

  it('refuses to init over an existing repository, and reports an absent one', async () => {
    const { storage } = await makeTempRepo();
    await expect(Repository.init(storage, testKey())).rejects.toThrow(RepositoryExistsError);
    await expect(Repository.open(new FsStorage(await makeTempDir()), testKey())).rejects.toThrow(
      RepositoryNotFoundError,
    );
  });

  it('still opens when an interrupted init left an older key slot with the same password', async () => {
    const { storage, dir } = await makeTempRepo();
    // An orphan slot from a crashed earlier init: same password, a keyring that opens nothing, older.
    const codec = testKey();
    const { params, wrapped } = await codec.wrap(encodeKeyring(generateKeyring()), 'orphan');
    const orphan = {
      version: 1,
      id: 'orphan',
      kind: 'password',
      created: '2000-01-01T00:00:00.000Z',
      hostname: 'h',
      username: 'u',
      params,
      wrapped: wrapped.toString('base64'),
    };
    await writeFile(join(dir, 'keys', 'orphan'), JSON.stringify(orphan));
    await expect(Repository.open(storage, testKey())).resolves.toBeInstanceOf(Repository);
  });

  it('refuses a key slot that asks for unbounded scrypt memory (planted or damaged)', async () => {
    const { storage, dir } = await makeTempRepo();
    const { readdir, readFile } = await import('node:fs/promises');
    const [slot] = await readdir(join(dir, 'keys'));
    const stored = JSON.parse(await readFile(join(dir, 'keys', slot!), 'utf8'));
    stored.params.logN = 40;
    await writeFile(join(dir, 'keys', slot!), JSON.stringify(stored));
    const err = await Repository.open(storage, testKey()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/^keys\/[0-9a-f]+: key slot refused before deriving .*cost 2\^40/);
  });

  it('refuses a master key whose MAC key or key id has the wrong shape', () => {
    const good = JSON.parse(encodeKeyring(generateKeyring()).toString());
    const shortMac = { ...good, macKey: Buffer.alloc(8).toString('base64') };
    expect(() => decodeKeyring(Buffer.from(JSON.stringify(shortMac)), 'keys/x')).toThrow(/wrong length/);
    const badId = { ...good, dataKeys: [{ ...good.dataKeys[0], id: 'not-hex' }], current: 'not-hex' };
    expect(() => decodeKeyring(Buffer.from(JSON.stringify(badId)), 'keys/x')).toThrow(/16 hex digits/);
  });

  it('names a damaged config instead of calling the password wrong', async () => {
    const { storage, dir } = await makeTempRepo();
    await flipBit(join(dir, 'config'), -2);
    const err = await Repository.open(storage, testKey()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/^config: /);
  });
});
