import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Repository } from '../../repo/repository';
import { childEnv } from '../child-env';
import { WalArchive } from './wal-archive';
import { segmentName, segmentNumber, timelineOf, walFileKind } from './wal-names';

/**
 * Fetching ahead for restore_command: recovery asks for segments one by one, each a new process that
 * would derive the key again. After the first request, a daemon (one per spool folder) fetches the next
 * segments of that timeline, a few at once, verified, into the spool; restore_command takes a segment
 * from there when it is waiting (no key needed), and the daemon keeps PREFETCH_AHEAD segments ready
 * beyond the newest one asked for.
 */

/** Segments kept ready beyond the newest one requested. */
export const PREFETCH_AHEAD = 8;
/** Fetches at once. */
export const PREFETCH_PARALLELISM = 3;
/** The daemon exits after this long without a request (or as soon as recovery has ended). */
export const PREFETCH_IDLE_MS = 10_000;
const POLL_MS = 50;

/** The spool of a restore_command whose target path is in `pgWal` (PostgreSQL ignores subfolders there). */
export function prefetchSpool(pgWal: string): string {
  return join(pgWal, 'zapas-prefetch');
}

/** Takes a prefetched segment into `path`; false when the spool does not have it. */
export async function takePrefetched(spool: string, name: string, path: string): Promise<boolean> {
  try {
    await rename(join(spool, name), path);
  } catch {
    return false;
  }
  await writeFile(join(spool, 'wanted'), name).catch(() => undefined);
  return true;
}

/** Tells the daemon (starting it when none runs) that `name` was just requested. */
export async function requestAhead(spool: string, name: string, start: () => void): Promise<void> {
  await mkdir(spool, { recursive: true, mode: 0o700 });
  await writeFile(join(spool, 'wanted'), name);
  if (!(await daemonAlive(spool))) start();
}

export function spawnPrefetcher(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore', env: childEnv('zapas', env) }).unref();
}

async function daemonAlive(spool: string): Promise<boolean> {
  const pid = Number((await readFile(join(spool, 'daemon.pid'), 'utf8').catch(() => '')).trim());
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The prefetch daemon: keeps the segments after the one last wanted ready in the spool (fetched and
 * verified; a damaged or missing one is simply not there, and restore_command then fetches it itself and
 * reports), drops those recovery has gone past, and removes the spool when it exits.
 */
export async function runPrefetcher(repo: Repository, source: string, spool: string): Promise<void> {
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const pidFile = join(spool, 'daemon.pid');
  try {
    const fd = openSync(pidFile, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
  } catch {
    if (await daemonAlive(spool)) return;
    await rm(pidFile, { force: true });
    return runPrefetcher(repo, source, spool);
  }
  const archive = new WalArchive(repo, source);
  const inFlight = new Set<string>();
  const failed = new Set<string>();
  let wanted = '';
  let lastRequest = Date.now();
  try {
    const recovering = recoveryWatch(spool);
    while (Date.now() - lastRequest < PREFETCH_IDLE_MS && recovering()) {
      const now = (await readFile(join(spool, 'wanted'), 'utf8').catch(() => '')).trim();
      if (now && now !== wanted) {
        wanted = now;
        lastRequest = Date.now();
      }
      if (walFileKind(wanted) === 'segment') {
        const tl = timelineOf(wanted);
        const from = segmentNumber(wanted);
        const want = new Set<string>();
        for (let i = 1n; i <= BigInt(PREFETCH_AHEAD); i++) want.add(segmentName(tl, from + i));
        for (const file of await readdir(spool)) {
          // Behind recovery now, or of another timeline: no longer of use.
          if (walFileKind(file) === 'segment' && !want.has(file) && !inFlight.has(file))
            await rm(join(spool, file), { force: true });
        }
        const present = new Set(await readdir(spool));
        for (const name of want) {
          if (inFlight.size >= PREFETCH_PARALLELISM) break;
          if (present.has(name) || inFlight.has(name) || failed.has(name)) continue;
          inFlight.add(name);
          void fetchInto(archive, spool, name)
            .then((ok) => {
              if (!ok) failed.add(name);
            })
            .finally(() => inFlight.delete(name));
        }
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    while (inFlight.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
  } finally {
    await rm(spool, { recursive: true, force: true });
  }
}

/**
 * Whether the server this spool serves is still recovering: when the spool is in the pg_wal of a data
 * folder, recovery has ended once neither recovery.signal nor standby.signal is there (the server removes
 * them on promotion), or once the folder is gone. A spool anywhere else is served until it goes idle.
 */
function recoveryWatch(spool: string): () => boolean {
  const dataDir = dirname(dirname(spool));
  if (!existsSync(join(dataDir, 'PG_VERSION'))) return () => true;
  return () => existsSync(join(dataDir, 'recovery.signal')) || existsSync(join(dataDir, 'standby.signal'));
}

/** Fetches and verifies one segment into the spool; false when it is not archived or does not verify. */
async function fetchInto(archive: WalArchive, spool: string, name: string): Promise<boolean> {
  try {
    return (await archive.fetchToFile(name, join(spool, name))) !== undefined;
  } catch {
    return false; // restore_command fetches it itself and names the damage
  }
}
