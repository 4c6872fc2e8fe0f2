import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cliEnv, lastJson, runCli, spawnCli, ZAPAS_BIN } from '../support/cli';
import { objectsIn } from '../support/damage';
import { useTempDir } from '../support/temp';

/** Invariant 3: a crash at any moment leaves a repository that checks clean; leftovers are garbage prune collects. */
describe('kill -9 in the middle of a backup', () => {
  const tmp = useTempDir();

  it('leaves a repository that checks clean; the next backup completes; prune collects the leftovers', async () => {
    const repo = join(tmp(), 'repo');
    const src = join(tmp(), 'src');
    await mkdir(src);
    // 160 MiB of incompressible data: many packs, so the kill lands between packs and index.
    for (let i = 0; i < 20; i++) await writeFile(join(src, `asset-${i}.bin`), randomBytes(8 * 1024 * 1024));
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);

    const child = spawn(process.execPath, [ZAPAS_BIN, '--repo', repo, 'backup', src], {
      env: cliEnv(),
      stdio: 'ignore',
    });
    // Kill as soon as a few packs are durable, before the snapshot.
    for (let waited = 0; ; waited += 20) {
      const packs = await objectsIn(repo, 'data');
      if (packs.length >= 3) break;
      if (waited > 60_000) throw new Error('backup wrote no packs in a minute');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.on('close', r));
    expect(await readdir(join(repo, 'snapshots')).catch(() => [])).toEqual([]);

    const afterCrash = await spawnCli(['--repo', repo, 'check', '--read-data']);
    expect(afterCrash.stderr).toBe('');
    expect(afterCrash.code).toBe(0);
    expect(afterCrash.stdout).toMatch(/in no index \(left by an interrupted backup\)/);

    // The dead backup's lock belongs to a dead pid on this host: it does not block anything.
    const second = await spawnCli(['--repo', repo, 'backup', src, '--json']);
    expect(second.code).toBe(0);
    expect(lastJson(second.stdout)).toMatchObject({ filesNew: 20, errors: 0 });
    expect((await spawnCli(['--repo', repo, 'check', '--read-data'])).code).toBe(0);

    const pruned = await spawnCli(['--repo', repo, 'prune', '--json']);
    expect(pruned.code).toBe(0);
    const report = lastJson<{ deleted: { packs: number } }>(pruned.stdout);
    const check = await spawnCli(['--repo', repo, 'check', '--read-data']);
    expect(check.code).toBe(0);
    expect(check.stdout).not.toMatch(/in no index/);
    const target = join(tmp(), 'restored');
    const restored = await spawnCli(['--repo', repo, 'restore', 'latest', '--target', target, '--verify']);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    // The crashed run's packs were never indexed, so the second run wrote its own: the old ones are garbage.
    expect(report.deleted.packs).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
