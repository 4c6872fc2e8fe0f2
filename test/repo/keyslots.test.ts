import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ALLOW_WEAK_KDF_ENV,
  KdfSettingError,
  newSlotLogN,
  PasswordKeySlot,
  SCRYPT_DEFAULT_LOG_N,
  SCRYPT_MIN_LOG_N,
  type ScryptParams,
  scryptKdf,
  scryptParamsProblem,
} from '../../lib/keys/password';
import { IntegrityError, WrongKeyError } from '../../lib/repo/errors';
import { addKeySlot, type DamagedKeySlot, listKeySlots, removeKeySlot } from '../../lib/repo/keyslots';
import { Repository } from '../../lib/repo/repository';
import { makeTempRepo, TEST_PASSWORD, testKey } from '../support/repo';

/** A password codec that counts its derivations, and the parameters of each. */
function countingKey(password = TEST_PASSWORD) {
  const calls: ScryptParams[] = [];
  const codec = new PasswordKeySlot(password, SCRYPT_MIN_LOG_N, (pw, params) => {
    calls.push(params);
    return scryptKdf(pw, params);
  });
  return { codec, calls };
}

/** The repository's one slot file, and a copy of it under a new id made older than it (tried first). */
// biome-ignore lint/suspicious/noExplicitAny: a stored slot edited as plain JSON
async function plantSlot(dir: string, edit: (slot: Record<string, any>) => void): Promise<string> {
  const [name] = await readdir(join(dir, 'keys'));
  const slot = JSON.parse(await readFile(join(dir, 'keys', name!), 'utf8'));
  const id = 'f'.repeat(32);
  const planted = { ...slot, id, created: '2000-01-01T00:00:00.000Z', params: { ...slot.params } };
  edit(planted);
  await writeFile(join(dir, 'keys', id), JSON.stringify(planted));
  return id;
}

describe('key slot KDF parameters are checked before anything is derived', () => {
  const salt = Buffer.alloc(32).toString('base64');
  const params = (p: Partial<ScryptParams>) => ({ kdf: 'scrypt' as const, logN: 16, r: 8, p: 1, salt, ...p });

  it.each([
    [{ logN: 20, r: 9 }, /1152 MiB of memory, more than the 1024 MiB/],
    [{ logN: 22, r: 32 }, /16384 MiB of memory/],
    [{ logN: 20, r: 8, p: 5 }, /5 passes over 1024 MiB/],
    [{ logN: 17, r: 8, p: 1000 }, /1000 passes over 128 MiB/],
    [{ logN: 40 }, /outside 2\^10\.\.2\^22/],
    [{ logN: 4 }, /outside/],
    [{ r: 0 }, /whole numbers/],
    [{ p: 1.5 }, /whole numbers/],
    [{ logN: '16' as unknown as number }, /whole numbers/],
    [{ salt: '' }, /no salt/],
  ])('%j is refused', (p, message) => {
    expect(scryptParamsProblem(params(p))).toMatch(message);
  });

  it('the default and 1 GiB at p=1 pass', () => {
    expect(scryptParamsProblem(params({}))).toBeUndefined();
    expect(scryptParamsProblem(params({ logN: 20, r: 8 }))).toBeUndefined();
  });

  it('a planted slot with huge parameters is refused naming keys/<id>, and nothing is derived for it', async () => {
    const { storage, dir } = await makeTempRepo();
    const id = await plantSlot(dir, (s) => {
      s.params.logN = 21;
      s.params.r = 16; // 4 GiB of memory
    });
    const { codec, calls } = countingKey();
    const warned: DamagedKeySlot[] = [];
    await expect(
      Repository.open(storage, codec, { onDamagedSlot: (d) => warned.push(d) }),
    ).resolves.toBeInstanceOf(Repository);
    expect(calls.every((c) => c.logN === SCRYPT_MIN_LOG_N)).toBe(true);
    expect(warned).toEqual([
      { object: `keys/${id}`, message: expect.stringMatching(/refused before deriving.*4096 MiB of memory/) },
    ]);
  });
});

describe('one damaged key slot does not lock out the others', () => {
  it.each([
    [
      'not JSON',
      (dir: string, id: string) => writeFile(join(dir, 'keys', id), '{"version": 1, "id": '),
      /not JSON/,
    ],
    ['no wrapped key', undefined, /no wrapped key/],
    ['parameters out of range', undefined, /cost 2\^40/],
    ['a wrapped key that is not a keyring', undefined, /./],
  ])('a slot with %s: the good slot still opens, the bad one is named', async (what, damage, message) => {
    const { storage, dir } = await makeTempRepo();
    const id = await plantSlot(dir, (s) => {
      if (what === 'no wrapped key') delete s.wrapped;
      if (what === 'parameters out of range') s.params.logN = 40;
    });
    if (what === 'a wrapped key that is not a keyring') {
      // Same password, a sealed value that opens but is no keyring: the slot is damaged, not another's.
      const { params, wrapped } = await testKey().wrap(Buffer.from('{"not":"a keyring"}'), id);
      const slot = JSON.parse(await readFile(join(dir, 'keys', id), 'utf8'));
      await writeFile(
        join(dir, 'keys', id),
        JSON.stringify({ ...slot, params, wrapped: wrapped.toString('base64') }),
      );
    }
    await damage?.(dir, id);
    const warned: DamagedKeySlot[] = [];
    await expect(
      Repository.open(storage, testKey(), { onDamagedSlot: (d) => warned.push(d) }),
    ).resolves.toBeInstanceOf(Repository);
    expect(warned).toEqual([{ object: `keys/${id}`, message: expect.stringMatching(message) }]);
    // A wrong password is still a wrong password (exit 12), and the message names a slot it found
    // damaged (the one that is no keyring opens only with its own password: to another it is not damaged).
    const wrong = await Repository.open(storage, testKey('wrong')).catch((e: Error) => e);
    expect(wrong).toBeInstanceOf(WrongKeyError);
    if (what !== 'a wrapped key that is not a keyring')
      expect((wrong as Error).message).toContain(`damaged, skipped: keys/${id}`);
  });

  it('with no intact slot left, the damage is what is reported, naming the slot', async () => {
    const { storage, dir } = await makeTempRepo();
    const [only] = await readdir(join(dir, 'keys'));
    const slot = JSON.parse(await readFile(join(dir, 'keys', only!), 'utf8'));
    slot.params.r = 1 << 20;
    await writeFile(join(dir, 'keys', only!), JSON.stringify(slot));
    const err = await Repository.open(storage, testKey()).catch((e: Error) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(
      new RegExp(`^keys/${only}: key slot refused before deriving .*\\(no intact password key slot in `),
    );
  });

  it('a damaged slot can be removed; the last intact one cannot', async () => {
    const { repo, storage, dir } = await makeTempRepo();
    const id = await plantSlot(dir, (s) => {
      s.params.logN = 40;
    });
    const damaged: DamagedKeySlot[] = [];
    // Its parameters are checked when deriving, not when listing: it is listed.
    expect(await listKeySlots(storage, (d) => damaged.push(d))).toHaveLength(2);
    expect(damaged).toEqual([]);
    await removeKeySlot(storage, id.slice(0, 8));
    expect(await readdir(join(dir, 'keys'))).toHaveLength(1);
    const [good] = await readdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', 'e'.repeat(32)), 'garbage');
    expect(await listKeySlots(storage, (d) => damaged.push(d))).toHaveLength(1);
    expect(damaged).toEqual([{ object: `keys/${'e'.repeat(32)}`, message: 'key slot is damaged: not JSON' }]);
    await expect(removeKeySlot(storage, good!)).rejects.toThrow(/last key slot/);
    await removeKeySlot(storage, 'e'.repeat(32));
    await addKeySlot(storage, repo.keyring, testKey('second'));
    await removeKeySlot(storage, good!);
    await expect(Repository.open(storage, testKey('second'))).resolves.toBeInstanceOf(Repository);
  });
});

describe('ZAPAS_KDF_LOG_N: the cost of new slots', () => {
  const cost = (env: NodeJS.ProcessEnv) => newSlotLogN(env);

  it('defaults to 2^16, and may be set from the floor (15) to 22', () => {
    expect(cost({})).toBe(SCRYPT_DEFAULT_LOG_N);
    expect(cost({ ZAPAS_KDF_LOG_N: '15' })).toBe(15);
    expect(cost({ ZAPAS_KDF_LOG_N: '22' })).toBe(22);
  });

  it('below the floor only with the test suite opt-in, and never below 2^10', () => {
    expect(() => cost({ ZAPAS_KDF_LOG_N: '10' })).toThrow(KdfSettingError);
    expect(() => cost({ ZAPAS_KDF_LOG_N: '14' })).toThrow(
      /from 15 to 22, not "14" \(below 15 only for test suites, with ZAPAS_TEST_ALLOW_WEAK_KDF=1\)/,
    );
    expect(() => cost({ ZAPAS_KDF_LOG_N: '10', [ALLOW_WEAK_KDF_ENV]: 'yes' })).toThrow(KdfSettingError);
    expect(cost({ ZAPAS_KDF_LOG_N: '10', [ALLOW_WEAK_KDF_ENV]: '1' })).toBe(10);
    expect(() => cost({ ZAPAS_KDF_LOG_N: '9', [ALLOW_WEAK_KDF_ENV]: '1' })).toThrow(/from 10 to 22/);
  });

  it.each(['23', 'abc', '1e1', '-16', '16.5', ' 16'])('"%s" is refused', (text) => {
    expect(() => cost({ ZAPAS_KDF_LOG_N: text })).toThrow(KdfSettingError);
  });
});
