import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { lockHeld, tryLock } from '../../../lib/sources/postgres/process-lock';
import { makeTempDir } from '../../support/temp';

/** Another process that takes the lock the way process-lock.ts does, and says so on stdout. */
function holder(file: string, killSelfAfterMs = 0) {
  const script = `
    const { DatabaseSync } = require('node:sqlite');
    const db = new DatabaseSync(process.argv[1], { timeout: 0 });
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('held\\n');
    const ms = Number(process.argv[2]);
    if (ms > 0) setTimeout(() => process.kill(process.pid, 'SIGKILL'), ms);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script, file, String(killSelfAfterMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const held = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('held') && resolve());
    child.on('exit', (code) => reject(new Error(`holder exited (${code})`)));
  });
  return { child, held };
}

describe('process lock', () => {
  it('one holder at a time in a process; released, it can be taken again; the file is 0600', async () => {
    const file = join(await makeTempDir(), 'daemon.lock');
    const first = await tryLock(file);
    expect(first).toBeDefined();
    expect(await tryLock(file)).toBeUndefined();
    expect(await lockHeld(file)).toBe(true);
    first!.release();
    expect(await lockHeld(file)).toBe(false);
    const again = await tryLock(file);
    expect(again).toBeDefined();
    again!.release();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('another process holding it keeps it from us; SIGKILLed, it leaves it free', async () => {
    const file = join(await makeTempDir(), 'daemon.lock');
    const { child, held } = holder(file);
    await held;
    expect(await tryLock(file)).toBeUndefined();
    expect(await lockHeld(file)).toBe(true);
    const waited = Date.now();
    expect(await tryLock(file, 300)).toBeUndefined();
    expect(Date.now() - waited).toBeGreaterThanOrEqual(250);
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    const lock = await tryLock(file);
    expect(lock).toBeDefined();
    lock!.release();
  });

  it('a waiting taker gets it as soon as the holder dies', async () => {
    const file = join(await makeTempDir(), 'daemon.lock');
    // The wait blocks this thread: the holder kills itself.
    const { held } = holder(file, 300);
    await held;
    const waited = Date.now();
    const lock = await tryLock(file, 10_000);
    expect(lock).toBeDefined();
    expect(Date.now() - waited).toBeLessThan(5_000);
    lock!.release();
  });

  it('names a lock file it cannot use', async () => {
    await expect(tryLock(join(await makeTempDir(), 'no', 'such', 'folder', 'daemon.lock'))).rejects.toThrow(
      /ENOENT/,
    );
  });
});
