import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Repository } from '../../repo/repository';
import { WalArchive } from './wal-archive';
import { walFileKind } from './wal-names';

/**
 * Asynchronous WAL archiving, as pgBackRest's archive-async: archive_command (`wal-push --async`) only
 * looks in a spool folder for a marker saying its file is archived, and starts a daemon when none runs.
 * The daemon derives the key once, pushes every file PostgreSQL has marked ready (pg_wal/archive_status/
 * *.ready) a few at a time, ahead of archive_command's requests, and writes `<name>.ok` once the object is
 * durable, or `<name>.error`. archive_command answers 0 only for `.ok`: nothing is acknowledged early.
 */

/** The spool folder of a source unless one is given. */
export function defaultSpool(source: string): string {
  return join(tmpdir(), 'zapas-wal-spool', source.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** How long archive_command waits for the daemon before failing (PostgreSQL retries it). */
export const FOREGROUND_WAIT_MS = 60_000;
const POLL_MS = 25;
/** The daemon exits after this long with nothing ready to push. */
export const DAEMON_IDLE_MS = 15_000;
/** Files the daemon pushes at once. */
export const DAEMON_PARALLELISM = 3;

export type ForegroundOutcome = { ok: true } | { ok: false; message: string };

/**
 * archive_command's side: the outcome for `path` from the spool, starting the daemon (`startDaemon`) when
 * there is no marker and no live daemon.
 */
export async function pushThroughSpool(
  path: string,
  spool: string,
  startDaemon: () => void,
  waitMs = FOREGROUND_WAIT_MS,
): Promise<ForegroundOutcome> {
  const name = basename(path);
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const end = Date.now() + waitMs;
  let started = false;
  for (;;) {
    const outcome = await readMarker(spool, name);
    if (outcome) return outcome;
    if (!started && !(await daemonAlive(spool))) {
      startDaemon();
      started = true;
    }
    if (Date.now() > end)
      return { ok: false, message: `the archiving daemon did not archive ${name} within ${waitMs / 1000} s` };
    await new Promise((r) => setTimeout(r, POLL_MS));
    // A daemon that died (or went idle just before this file was ready) is started again.
    if (started && !(await daemonAlive(spool))) started = false;
  }
}

async function readMarker(spool: string, name: string): Promise<ForegroundOutcome | undefined> {
  try {
    await rm(join(spool, `${name}.ok`));
    return { ok: true };
  } catch {
    // not archived yet (or not by the daemon)
  }
  const error = await readFile(join(spool, `${name}.error`), 'utf8').catch(() => undefined);
  if (error === undefined) return undefined;
  await rm(join(spool, `${name}.error`), { force: true });
  return { ok: false, message: error.trim() };
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

/** Starts the daemon as a detached process (`argv` runs `zapas pg wal-push --daemon …`). */
export function spawnDaemon(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore', env });
  child.unref();
}

/**
 * The daemon: claims the spool (daemon.pid; one daemon per spool), then pushes what is ready in
 * `walDir` until nothing has been ready for DAEMON_IDLE_MS.
 */
export async function runDaemon(
  repo: Repository,
  source: string,
  walDir: string,
  spool: string,
  opts: { idleMs?: number; parallelism?: number } = {},
): Promise<number> {
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const pidFile = join(spool, 'daemon.pid');
  if (!claim(pidFile)) {
    if (await daemonAlive(spool)) return 0;
    await rm(pidFile, { force: true });
    if (!claim(pidFile)) return 0;
  }
  const archive = new WalArchive(repo, source);
  const inFlight = new Set<string>();
  // Pushed by this daemon: PostgreSQL marks a file done only after archive_command answers, so it may
  // still look ready on the next scan.
  const finished = new Set<string>();
  let pushed = 0;
  let lastWork = Date.now();
  try {
    while (Date.now() - lastWork < (opts.idleMs ?? DAEMON_IDLE_MS)) {
      const ready = await readyFiles(walDir);
      const done = new Set(await readdir(spool).catch(() => [] as string[]));
      // A file with an outcome waiting for archive_command is not work: one that keeps failing is tried
      // again only once archive_command has taken its error, and cannot keep the daemon alive forever.
      const todo = ready.filter(
        (n) => !inFlight.has(n) && !finished.has(n) && !done.has(`${n}.ok`) && !done.has(`${n}.error`),
      );
      if (todo.length > 0 || inFlight.size > 0) lastWork = Date.now();
      for (const name of todo) {
        if (inFlight.size >= (opts.parallelism ?? DAEMON_PARALLELISM)) break;
        inFlight.add(name);
        void pushOne(archive, walDir, spool, name)
          .then((ok) => {
            if (ok) finished.add(name);
            pushed++;
          })
          .finally(() => inFlight.delete(name));
      }
      await new Promise((r) => setTimeout(r, POLL_MS * 4));
    }
    while (inFlight.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
  } finally {
    await rm(pidFile, { force: true });
  }
  return pushed;
}

/** Creates the pid file exclusively; false when it exists. */
function claim(pidFile: string): boolean {
  try {
    const fd = openSync(pidFile, 'wx', 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** Names PostgreSQL has marked ready to archive, oldest first (segments sort by name). */
async function readyFiles(walDir: string): Promise<string[]> {
  const status = await readdir(join(walDir, 'archive_status')).catch(() => [] as string[]);
  return status
    .filter((f) => f.endsWith('.ready'))
    .map((f) => f.slice(0, -'.ready'.length))
    .filter((n) => walFileKind(n) !== undefined)
    .sort();
}

async function pushOne(archive: WalArchive, walDir: string, spool: string, name: string): Promise<boolean> {
  let marker: string;
  let content: string;
  try {
    await archive.push(name, await readFile(join(walDir, name)));
    marker = `${name}.ok`;
    content = '';
  } catch (err) {
    marker = `${name}.error`;
    content = (err as Error).message;
  }
  const temp = join(spool, `.${marker}.${process.pid}`);
  await writeFile(temp, content);
  await rename(temp, join(spool, marker));
  return marker.endsWith('.ok');
}
