import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliEnv, runCli, spawnCli, ZAPAS_BIN } from '../support/cli';
import { useTempDir } from '../support/temp';

/** Files of the tree a signalled backup reads: long enough (about a second here) to be caught mid-way. */
const TREE_FILES = 64;
const FILE_BYTES = 1024 * 1024;
const POLL_MS = 5;

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
}

/**
 * The real command, stopped by a signal in the middle of a backup: it releases its lock and exits 128 +
 * the signal, so no `zapas unlock` is needed afterwards, and writes no snapshot.
 */
describe('a backup stopped by a signal', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    await mkdir(src);
    for (let i = 0; i < TREE_FILES; i++) await writeFile(join(src, `f${i}.bin`), randomBytes(FILE_BYTES));
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: exit %d, the lock released, no snapshot', async (signal, code) => {
    const before = await entries(join(repo, 'locks'));
    const child = spawn(process.execPath, [ZAPAS_BIN, '--repo', repo, 'backup', src], {
      env: cliEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (c, s) => resolve({ code: c, signal: s })),
    );
    let done = false;
    void exited.then(() => (done = true));
    const taken = async () => (await entries(join(repo, 'locks'))).some((l) => !before.includes(l));
    while (!done && !(await taken())) await new Promise((r) => setTimeout(r, POLL_MS));
    expect(done).toBe(false); // the backup had taken its lock and was still running
    child.kill(signal);
    expect(await exited).toEqual({ code, signal: null });
    expect(stderr).toContain(`${signal}: releasing locks and stopping`);
    expect(await entries(join(repo, 'locks'))).toEqual([]);
    expect(await entries(join(repo, 'snapshots'))).toEqual([]);
  });

  it('the help of every verb lists 130 and 143, but wal-push and wal-fetch keep the default action', async () => {
    for (const verb of [['backup'], ['restore'], ['pg', 'restore']]) {
      const r = await spawnCli([...verb, '--help']);
      expect(r.stdout).toMatch(/130 {2}interrupted \(SIGINT\)/);
      expect(r.stdout).toMatch(/143 {2}terminated \(SIGTERM\)/);
    }
    // PostgreSQL tells its own SIGTERM (a shutdown) from an exit above 125 (stop recovery).
    for (const verb of ['wal-push', 'wal-fetch']) {
      const r = await spawnCli(['pg', verb, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).not.toMatch(/130|143/);
    }
  });
});
