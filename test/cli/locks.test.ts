import { join } from 'node:path';
import { PasswordKeySlot, SCRYPT_MIN_LOG_N } from '../../lib/keys/password';
import { Lock } from '../../lib/repo/lock';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { runCli, TEST_PASSWORD_FOR_CLI } from '../support/cli';
import { useTempDir } from '../support/temp';

describe('locks', () => {
  const tmp = useTempDir();

  it('exits 11 when another process holds a conflicting lock, naming it; backups are not blocked', async () => {
    const repo = join(tmp(), 'repo');
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    const opened = await Repository.open(
      new FsStorage(repo),
      new PasswordKeySlot(TEST_PASSWORD_FOR_CLI, SCRYPT_MIN_LOG_N),
    );
    const held = await Lock.acquire(opened, 'exclusive');
    try {
      const prune = await runCli(['--repo', repo, 'prune']);
      expect(prune.code).toBe(11);
      expect(prune.stderr).toMatch(new RegExp(`locked exclusively by pid ${process.pid}`));
      expect((await runCli(['--repo', repo, 'check'])).code).toBe(11);
      // Backups coexist with prune (two-phase deletion keeps them safe).
      expect((await runCli(['--repo', repo, 'backup', __dirname])).code).toBe(0);
    } finally {
      await held.release();
    }
    expect((await runCli(['--repo', repo, 'prune'])).code).toBe(0);
  });

  it('unlock removes stale locks only, unless --remove-all', async () => {
    const repo = join(tmp(), 'repo2');
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    const opened = await Repository.open(
      new FsStorage(repo),
      new PasswordKeySlot(TEST_PASSWORD_FOR_CLI, SCRYPT_MIN_LOG_N),
    );
    await Lock.acquire(opened, 'exclusive');
    const live = await runCli(['--repo', repo, 'unlock']);
    expect(live.stdout).toContain('removed 0 lock(s)');
    const all = await runCli(['--repo', repo, 'unlock', '--remove-all']);
    expect(all.stdout).toContain('removed 1 lock(s)');
    expect((await runCli(['--repo', repo, 'prune'])).code).toBe(0);
  });
});
