import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

describe('zapas and damaged or weak key slots', () => {
  const tmp = useTempDir();

  it('ZAPAS_KDF_LOG_N below the floor is refused (exit 2) unless the test suite opts in', async () => {
    const repo = join(tmp(), 'weak');
    const r = await runCli(['--repo', repo, 'init'], { ZAPAS_TEST_ALLOW_WEAK_KDF: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ZAPAS_KDF_LOG_N must be a whole number from 15 to 22, not "10"/);
    expect(r.stderr).toMatch(/ZAPAS_TEST_ALLOW_WEAK_KDF=1/);
    // Nothing was made.
    await expect(readdir(repo)).rejects.toThrow(/ENOENT/);
    const nonsense = await runCli(['--repo', repo, 'init'], { ZAPAS_KDF_LOG_N: 'high' });
    expect(nonsense.code).toBe(2);
  });

  it('a damaged slot before the good one: the repository opens, with a warning naming the bad slot', async () => {
    const repo = join(tmp(), 'repo');
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    const [good] = await readdir(join(repo, 'keys'));
    const slot = JSON.parse(await readFile(join(repo, 'keys', good!), 'utf8'));
    // A planted slot, older than the good one so it is tried first, asking for 8 GiB of scrypt memory.
    const bad = 'a'.repeat(32);
    await writeFile(
      join(repo, 'keys', bad),
      JSON.stringify({
        ...slot,
        id: bad,
        created: '2000-01-01T00:00:00.000Z',
        params: { ...slot.params, logN: 22, r: 16 },
      }),
    );
    const started = Date.now();
    const r = await runCli(['--repo', repo, 'snapshots']);
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000); // nothing of 8 GiB was attempted
    expect(r.stderr).toMatch(
      new RegExp(`warning: keys/${bad}: key slot refused before deriving .*8192 MiB of memory`),
    );
    // The bad slot goes with `key remove`.
    expect((await runCli(['--repo', repo, 'key', 'remove', bad.slice(0, 8)])).code).toBe(0);
    const after = await runCli(['--repo', repo, 'snapshots']);
    expect(after.code).toBe(0);
    expect(after.stderr).toBe('');
  });
});
