import { isSea } from 'node:sea';

/**
 * glibc's malloc settings for the heavy verbs: two arenas, and a fixed 1 MiB mmap threshold (why, with the
 * measurements: scripts/build.mjs, whose #! line sets the same for the script). glibc reads them only at
 * start-up, and an executable has no #! line: it runs itself again with them, once (process.execve keeps
 * the pid, the open files and the signal handling of whoever started it). Measured on the executable,
 * 330 MB data set: check --read-data 249 -> 210 MB and 245 -> 228 MB peak RSS, restore 246 -> 229 MB.
 */
export const MALLOC_SETTINGS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '1048576',
};

/**
 * In the executable, when the environment lacks the settings (a user's own values win), replaces this
 * process with itself under them; it does not return then. A script got them from its #! line.
 */
export function restartWithMallocSettings(): void {
  if (!isSea() || process.env.MALLOC_ARENA_MAX !== undefined || !process.execve) return;
  process.execve(process.execPath, [process.argv[1] ?? process.execPath, ...process.argv.slice(2)], {
    ...process.env,
    ...MALLOC_SETTINGS,
  });
}
