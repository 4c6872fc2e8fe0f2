import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type PasswordKdf, scryptKdf } from '../../lib/keys/password';
import { encodeKeyring } from '../../lib/repo/keyring';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { runCli, TEST_PASSWORD_FOR_CLI } from '../support/cli';
import { testKey } from '../support/repo';
import { makeTempDir } from '../support/temp';
import { fakeSegment } from '../support/wal-segments';

/** A KDF that counts the slot derivations it does (the key cache's own small pad is not one). */
function countingKdf(): PasswordKdf & { calls: number } {
  const kdf = Object.assign(
    async (password: string, params: Parameters<PasswordKdf>[1]) => {
      kdf.calls++;
      return scryptKdf(password, params);
    },
    { calls: 0 },
  );
  return kdf;
}

/** The cluster the WAL files come from (wal-push checks every file's). */
const SYSTEM_ID = '7301234567890123456';

/** A repository, a folder of WAL files and a key cache folder; `push`/`fetch` run the verbs in-process. */
async function setUp() {
  const base = await makeTempDir('zapas-key-cache-');
  const repo = join(base, 'repo');
  const cache = join(base, 'cache');
  const wal = join(base, 'wal');
  await mkdir(wal);
  const env = { ZAPAS_REPOSITORY: repo, ZAPAS_KEY_CACHE_DIR: cache, ZAPAS_PG_SOURCE: 'main' };
  expect((await runCli(['init'], env)).code).toBe(0);
  const kdf = countingKdf();
  let segment = 0;
  const push = async (extra: NodeJS.ProcessEnv = {}) => {
    const name = `0000000100000000000000${(++segment).toString(16).toUpperCase().padStart(2, '0')}`;
    await writeFile(join(wal, name), fakeSegment(name, SYSTEM_ID, { bytes: 64 * 1024, fill: segment }));
    return {
      name,
      ...(await runCli(['pg', 'wal-push', join(wal, name)], { ...env, ...extra }, { passwordKdf: kdf })),
    };
  };
  const fetch = (name: string, extra: NodeJS.ProcessEnv = {}) =>
    runCli(
      ['pg', 'wal-fetch', '--no-prefetch', name, join(wal, `${name}.back`)],
      { ...env, ...extra },
      {
        passwordKdf: kdf,
      },
    );
  const entries = async () => (await readdir(cache)).filter((f) => f.endsWith('.json'));
  return { base, repo, cache, env, kdf, push, fetch, entries };
}

describe('the key cache of wal-push and wal-fetch', () => {
  it('derives the key once: later pushes and fetches run no slot derivation', async () => {
    const t = await setUp();
    const first = await t.push();
    expect(first.code).toBe(0);
    expect(t.kdf.calls).toBe(1);
    for (let i = 0; i < 3; i++) expect((await t.push()).code).toBe(0);
    const fetched = await t.fetch(first.name);
    expect(fetched.stderr).toBe('');
    expect(fetched.code).toBe(0);
    expect(t.kdf.calls).toBe(1);
    // Other verbs do not use it.
    expect((await runCli(['snapshots'], t.env, { passwordKdf: t.kdf })).code).toBe(0);
    expect(t.kdf.calls).toBe(2);
  });

  it('keeps its entry 0600 in a folder 0700, holding neither the master key nor the slot key', async () => {
    const t = await setUp();
    expect((await t.push()).code).toBe(0);
    expect((await stat(t.cache)).mode & 0o777).toBe(0o700);
    const [file] = await t.entries();
    expect((await stat(join(t.cache, file!))).mode & 0o777).toBe(0o600);
    const text = await readFile(join(t.cache, file!), 'utf8');
    const storage = new FsStorage(t.repo);
    const repo = await Repository.open(storage, testKey(TEST_PASSWORD_FOR_CLI));
    const slot = JSON.parse((await readFile(join(t.repo, 'keys', JSON.parse(text).slot))).toString());
    const kek = await scryptKdf(TEST_PASSWORD_FOR_CLI, slot.params);
    const secrets = [
      encodeKeyring(repo.keyring).toString('base64'),
      repo.keyring.current.key.toString('base64'),
      repo.keyring.current.key.toString('hex'),
      repo.keyring.macKey.toString('base64'),
      kek.toString('base64'),
      kek.toString('hex'),
      TEST_PASSWORD_FOR_CLI,
    ];
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(JSON.parse(text).repository).toBe(repo.config.id);
  });

  it('is of no use once the password changes: the old one opens nothing, the new one derives once', async () => {
    const t = await setUp();
    expect((await t.push()).code).toBe(0);
    const passwd = await runCli(['key', 'passwd'], { ...t.env, ZAPAS_NEW_PASSWORD: 'a new password' });
    expect(passwd.code).toBe(0);
    const calls = t.kdf.calls;
    const old = await t.push();
    expect(old.code).toBe(12);
    expect(t.kdf.calls).toBeGreaterThan(calls);
    expect(await t.entries()).toEqual([]); // removed: it opens nothing any more
    expect((await t.push({ ZAPAS_PASSWORD: 'a new password' })).code).toBe(0);
    const afterNew = t.kdf.calls;
    expect((await t.push({ ZAPAS_PASSWORD: 'a new password' })).code).toBe(0);
    expect(t.kdf.calls).toBe(afterNew);
  });

  it('is of no use once its slot is removed, even with that slot password and the entry in place', async () => {
    const t = await setUp();
    expect((await runCli(['key', 'add'], { ...t.env, ZAPAS_NEW_PASSWORD: 'second' })).code).toBe(0);
    expect((await t.push({ ZAPAS_PASSWORD: 'second' })).code).toBe(0);
    const [file] = await t.entries();
    const entry = await readFile(join(t.cache, file!));
    const slot = JSON.parse(entry.toString()).slot as string;
    expect((await runCli(['key', 'remove', slot.slice(0, 8)], t.env)).code).toBe(0);
    await writeFile(join(t.cache, file!), entry, { mode: 0o600 }); // as if kept, or restored by an attacker
    const calls = t.kdf.calls;
    const r = await t.push({ ZAPAS_PASSWORD: 'second' });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/wrong password/);
    expect(t.kdf.calls).toBeGreaterThan(calls); // the remaining slot was tried with the full derivation
    expect((await t.push()).code).toBe(0); // the first password still works
  });

  it('a damaged entry costs one derivation, never a wrong key', async () => {
    const t = await setUp();
    expect((await t.push()).code).toBe(0);
    const [file] = await t.entries();
    const path = join(t.cache, file!);
    const entry = JSON.parse(await readFile(path, 'utf8'));
    const masked = Buffer.from(entry.masked, 'base64');
    masked[0]! ^= 1;
    for (const damaged of [
      { ...entry, masked: masked.toString('base64') },
      { ...entry, repository: 'ab'.repeat(16) },
      { ...entry, slotDigest: '0'.repeat(32) },
      { ...entry, version: 2 },
      'not json',
    ]) {
      await writeFile(path, typeof damaged === 'string' ? damaged : JSON.stringify(damaged), { mode: 0o600 });
      const calls = t.kdf.calls;
      const r = await t.push();
      expect(r.code).toBe(0);
      expect(t.kdf.calls).toBe(calls + 1);
      expect((await t.push()).code).toBe(0); // rewritten: the next one is cached again
      expect(t.kdf.calls).toBe(calls + 1);
    }
  });

  it('is not used when others could read or replace it (folder or file mode, a link), with a warning', async () => {
    const t = await setUp();
    expect((await t.push()).code).toBe(0);
    const [file] = await t.entries();
    const path = join(t.cache, file!);
    const cases: [string, () => Promise<void>, () => Promise<void>, RegExp][] = [
      ['folder 0755', () => chmod(t.cache, 0o755), () => chmod(t.cache, 0o700), /mode 0755/],
      ['file 0644', () => chmod(path, 0o644), () => chmod(path, 0o600), /mode 0644/],
    ];
    for (const [what, spoil, repair, message] of cases) {
      await spoil();
      const calls = t.kdf.calls;
      const r = await t.push();
      expect({ what, code: r.code }).toEqual({ what, code: 0 });
      expect(r.stderr).toMatch(message);
      expect(t.kdf.calls).toBe(calls + 1);
      await repair();
    }
    // A link in place of the entry is refused, not followed.
    const elsewhere = join(t.base, 'elsewhere.json');
    await writeFile(elsewhere, await readFile(path), { mode: 0o600 });
    await rm(path);
    await symlink(elsewhere, path);
    const r = await t.push();
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/symbolic link/);
  });

  it('ZAPAS_KEY_CACHE=off: no file, a derivation every time; another value is a usage error', async () => {
    const t = await setUp();
    for (let i = 0; i < 2; i++) expect((await t.push({ ZAPAS_KEY_CACHE: 'off' })).code).toBe(0);
    expect(t.kdf.calls).toBe(2);
    await expect(readdir(t.cache)).rejects.toThrow(/ENOENT/);
    const bad = await t.push({ ZAPAS_KEY_CACHE: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/ZAPAS_KEY_CACHE must be "on" or "off"/);
  });
});
