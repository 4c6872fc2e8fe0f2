// A file system of the bench's own for its data, repositories and restore targets: a journaled ext4 image on a
// loop device, made fresh for every run.
//
// Why: the machines this bench runs on have an ext4 root file system without a journal. There, the inode
// allocator passes over every inode freed in the last 5 minutes (300 s while its inode table block is dirty,
// `recently_deleted()` in fs/ext4/ialloc.c), one buffer-cache lookup each. Creating 20,000 files took 0.46 s on a
// fresh file system and 5.8–7.4 s right after 40,000 files had been deleted (measured on 2026-12-02). A restore
// timed after the previous restore's tree was removed then measures that scan, not the tool, and the amount
// depends on what ran before. On a journaled ext4 (the default of mkfs.ext4, and of servers) the same creation
// took 0.47 s however many files had just been deleted.
//
// It needs root (mount) and a loop device; otherwise, or with BENCH_FS=plain, the bench uses a plain folder and
// says so in its report.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';

const GiB = 1024 ** 3;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`,
    );
  return r.stdout;
}

function isMountPoint(dir) {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .some((line) => line.split(' ')[1] === dir);
  } catch {
    return false;
  }
}

/** Unmounts `dir` if something is mounted there (a run that was killed leaves its file system mounted). */
export function unmountStale(dir) {
  if (isMountPoint(dir)) run('umount', [dir]);
}

/**
 * Makes `dir` the mount point of a fresh journaled ext4 of `sizeBytes` (a sparse image at `image`), or, when
 * that cannot be done, a plain folder. Returns { kind, detail, release() }: `kind` is "ext4-loop" or "plain",
 * `detail` a sentence for the report, and `release` unmounts and deletes the image.
 */
export function makeScratchFs(dir, image, sizeBytes) {
  const plain = (why) => {
    mkdirSync(dir, { recursive: true });
    return {
      kind: 'plain',
      detail: `a plain folder on the project's file system (${why})`,
      release: () => undefined,
    };
  };
  if (process.env.BENCH_FS === 'plain') return plain('BENCH_FS=plain');
  if (process.getuid?.() !== 0) return plain('not root, so no loop mount');
  try {
    unmountStale(dir);
    rmSync(image, { force: true });
    mkdirSync(dir, { recursive: true });
    run('truncate', ['-s', String(sizeBytes), image]);
    // Inode tables and journal written now, not by ext4lazyinit in the background during the timed runs; no
    // discard of the image's blocks; one inode per 64 KiB is room for several copies of the data set.
    run('mkfs.ext4', [
      '-q',
      '-F',
      '-m',
      '0',
      '-i',
      '65536',
      '-E',
      'lazy_itable_init=0,lazy_journal_init=0,nodiscard',
      image,
    ]);
    run('mount', ['-o', 'loop', image, dir]);
  } catch (e) {
    rmSync(image, { force: true });
    return plain(`the loop file system could not be made: ${e.message.split('\n')[0]}`);
  }
  return {
    kind: 'ext4-loop',
    detail: `a fresh journaled ext4 (mkfs.ext4 defaults, ${(sizeBytes / GiB).toFixed(0)} GiB sparse image, loop-mounted)`,
    release() {
      try {
        unmountStale(dir);
      } finally {
        rmSync(image, { force: true });
      }
    },
  };
}
