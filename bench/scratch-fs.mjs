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
// The image is allocated up front (fallocate) and the loop device does direct I/O to it, as a disk would: with
// buffered loop I/O every byte written is cached twice (in the loop file system and in the image file), and
// the kernel threads copying it between the two took CPU from the tools (zapas's initial backup took 4.0 s
// on a buffered loop device and 3.6 s on a direct one, in alternating runs).
//
// It needs root (mount, losetup) and a loop device; otherwise, or with BENCH_FS=plain, the bench uses a plain
// folder and says so in its report.

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

/** The loop device mounted at `dir`, if any. */
function loopDeviceAt(dir) {
  try {
    const line = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[1] === dir);
    const device = line?.split(' ')[0];
    return device?.startsWith('/dev/loop') ? device : undefined;
  } catch {
    return undefined;
  }
}

/** Unmounts `dir` and detaches its loop device, if any (a run that was killed leaves them behind). */
export function unmountStale(dir) {
  if (!isMountPoint(dir)) return;
  const device = loopDeviceAt(dir);
  // A process that is just exiting (a server shutting down, a helper daemon) can keep it busy for a moment.
  for (let attempt = 1; ; attempt++) {
    try {
      run('umount', [dir]);
      break;
    } catch (e) {
      if (attempt >= 30 || !/busy/.test(e.message)) throw e;
      // Still held after 10 s: whatever holds the bench's own file system is a leftover of the bench (an
      // archiver's daemon): name it on stderr and stop it.
      if (attempt === 20) {
        const holders = spawnSync('fuser', ['-vm', dir], { encoding: 'utf8' });
        process.stderr.write(`scratch fs ${dir} still busy; stopping what holds it:\n${holders.stderr}\n`);
        spawnSync('fuser', ['-km', dir]);
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
  if (device) spawnSync('losetup', ['-d', device]);
}

/**
 * Makes `dir` the mount point of a fresh journaled ext4 of `sizeBytes` (an image file at `image`), or, when
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
    // Allocated now, so the timed writes do not allocate the image's blocks on the host file system.
    if (spawnSync('fallocate', ['-l', String(sizeBytes), image]).status !== 0)
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
    const device = run('losetup', ['--find', '--show', '--direct-io=on', image]).trim();
    try {
      run('mount', [device, dir]);
    } catch (e) {
      spawnSync('losetup', ['-d', device]);
      throw e;
    }
  } catch (e) {
    rmSync(image, { force: true });
    return plain(`the loop file system could not be made: ${e.message.split('\n')[0]}`);
  }
  return {
    kind: 'ext4-loop',
    detail: `a fresh journaled ext4 (mkfs.ext4 defaults, ${(sizeBytes / GiB).toFixed(0)} GiB image allocated up front, on a loop device with direct I/O)`,
    release() {
      try {
        unmountStale(dir);
      } finally {
        rmSync(image, { force: true });
      }
    },
  };
}
