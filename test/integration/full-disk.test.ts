import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** Mounting a small tmpfs needs root (CI runs as root; so does this machine). */
function canMount(): boolean {
  return process.getuid?.() === 0;
}

describe('a full disk', () => {
  const tmp = useTempDir();
  (canMount() ? it : it.skip)(
    'fails with an error naming the file and "no space left on device"',
    async () => {
      const repo = join(tmp(), 'repo');
      const src = join(tmp(), 'src');
      await mkdir(src);
      for (let i = 0; i < 4; i++) await writeFile(join(src, `big-${i}.bin`), randomBytes(1024 * 1024));
      expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
      expect((await runCli(['--repo', repo, 'backup', src])).code).toBe(0);
      const mountPoint = join(tmp(), 'small-disk');
      await mkdir(mountPoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
      let r: Awaited<ReturnType<typeof runCli>>;
      try {
        r = await runCli(['--repo', repo, 'restore', 'latest', '--target', join(mountPoint, 'target')]);
      } finally {
        execFileSync('umount', [mountPoint]);
      }
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot write .*big-\d\.bin: no space left on device/);
      // The repository is untouched by the failed restore.
      expect((await runCli(['--repo', repo, 'check', '--read-data'])).code).toBe(0);
      expect((await readdir(join(repo, 'locks'))).length).toBe(0);
    },
  );

  (canMount() ? it : it.skip)(
    'during a backup fails the backup (exit 1, named), never a snapshot with files missing',
    async () => {
      const src = join(tmp(), 'src-big');
      await mkdir(src);
      for (let i = 0; i < 4; i++) await writeFile(join(src, `big-${i}.bin`), randomBytes(1024 * 1024));
      const disk = join(tmp(), 'small-repo-disk');
      await mkdir(disk);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk]);
      try {
        const repo = join(disk, 'repo');
        expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
        const r = await runCli(['--repo', repo, 'backup', src]);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/no space|ENOSPC/i);
        expect(await readdir(join(repo, 'snapshots')).catch(() => [])).toEqual([]);
      } finally {
        execFileSync('umount', [disk]);
      }
    },
  );
});
