import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Repository } from '../../repo/repository';
import { childEnv } from '../child-env';
import { lockHeld, tryLock } from './process-lock';
import { WalArchive } from './wal-archive';
import { walFileKind } from './wal-names';

/**
 * Asynchronous WAL archiving, as pgBackRest's archive-async: archive_command (`wal-push --async`) only
 * looks in a spool folder for a marker saying its file is archived, and starts a daemon when none runs
 * (one per spool: an exclusive lock that dies with its holder, process-lock.ts).
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
/**
 * How often archive_command looks at the daemon lock while it waits: each look takes the lock for an
 * instant, and dozens of waiting calls looking every POLL_MS would keep a starting daemon from it.
 */
const DAEMON_CHECK_MS = 250;
/** The daemon exits after this long with nothing ready to push. */
export const DAEMON_IDLE_MS = 15_000;
/** Files the daemon pushes at once. */
export const DAEMON_PARALLELISM = 3;
/**
 * How long a starting daemon waits for the lock: archive_command takes it for an instant to see whether a
 * daemon runs, and a daemon starting in that instant must not give up.
 */
const DAEMON_LOCK_WAIT_MS = 2_000;
/** Daemons one archive_command starts at most before it gives up on its file. */
const MAX_STARTS_PER_CALL = 3;
/** The daemon's log is moved aside (to daemon.log.1) when a daemon starts and finds it this large. */
const DAEMON_LOG_MAX_BYTES = 1024 * 1024;

/** Held by the one daemon of a spool for its whole life. */
const DAEMON_LOCK = 'daemon.lock';
/** Held by the archive_command that is starting a daemon, until the daemon holds its lock. */
const START_LOCK = 'start.lock';
/**
 * The pid of the daemon holding the lock, written once it holds it and has opened the repository. The
 * lock says whether a daemon runs; this file says which one is ready, so that the archive_command that
 * started it knows its own holds the lock (a lock found taken might be another archive_command looking
 * at it for an instant) and that it got past what fails at start (a wrong password, no repository): a
 * daemon that ends before writing it is a failure to report, not a start.
 */
const DAEMON_PID = 'daemon.pid';
/** What each daemon did (started, held the lock, ended), and what it wrote to stdout and stderr. */
export const DAEMON_LOG = 'daemon.log';

/** The spool folder cannot be used. */
export class SpoolError extends Error {
  override readonly name = 'SpoolError';
}

export type ForegroundOutcome = { ok: true } | { ok: false; message: string };

/** A daemon that was started: its pid, and whether it has ended, and how. */
export interface StartedDaemon {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
}

/**
 * archive_command's side: the outcome for `path` from the spool, starting a daemon (`startDaemon`) when
 * none holds the spool's lock. Exactly one daemon runs per spool: the daemon lock settles it, and at most
 * one archive_command at a time starts a daemon (the start lock, held until the new daemon holds its
 * lock), so concurrent calls wait for that daemon instead of starting more.
 */
export async function pushThroughSpool(
  path: string,
  spool: string,
  startDaemon: () => StartedDaemon,
  waitMs = FOREGROUND_WAIT_MS,
): Promise<ForegroundOutcome> {
  const name = basename(path);
  await prepareSpool(spool);
  const end = Date.now() + waitMs;
  let starts = 0;
  let nextCheck = 0;
  for (;;) {
    const outcome = await readMarker(spool, name);
    if (outcome) return outcome;
    if (Date.now() > end)
      return { ok: false, message: `the archiving daemon did not archive ${name} within ${waitMs / 1000} s` };
    // No daemon (none yet, or it ended, idle or not): start one.
    if (Date.now() >= nextCheck && !(await lockHeld(join(spool, DAEMON_LOCK)))) {
      const start = await startIfNone(spool, startDaemon, end);
      if (start.started) starts++;
      if (start.failure) return { ok: false, message: start.failure };
      if (starts >= MAX_STARTS_PER_CALL && !(await lockHeld(join(spool, DAEMON_LOCK))))
        return {
          ok: false,
          message: `${starts} archiving daemons ended without archiving ${name}; see ${join(spool, DAEMON_LOG)}`,
        };
    }
    if (Date.now() >= nextCheck) nextCheck = Date.now() + DAEMON_CHECK_MS;
    await sleep(POLL_MS);
  }
}

/**
 * Starts a daemon unless another archive_command is doing so or one runs already, and waits (holding the
 * start lock) until it holds the daemon lock or has ended. A daemon that ended with an error (a wrong
 * password, no repository) is a failure, named from its log: waiting on would not help.
 */
async function startIfNone(
  spool: string,
  startDaemon: () => StartedDaemon,
  end: number,
): Promise<{ started: boolean; failure?: string }> {
  const starter = await tryLock(join(spool, START_LOCK));
  if (!starter) return { started: false };
  try {
    if (await lockHeld(join(spool, DAEMON_LOCK))) return { started: false };
    await rotateLog(spool);
    const child = startDaemon();
    while (Date.now() <= end) {
      if (child.pid !== undefined && (await holderPid(spool)) === child.pid) return { started: true };
      if (child.exitCode !== null || child.signalCode !== null) {
        if (child.exitCode === 0) return { started: true };
        const how = child.exitCode !== null ? `exit status ${child.exitCode}` : `signal ${child.signalCode}`;
        return {
          started: true,
          failure: `the archiving daemon ended (${how}): ${await lastLogLine(spool)}`,
        };
      }
      await sleep(POLL_MS);
    }
    return { started: true };
  } finally {
    starter.release();
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

/**
 * Starts the daemon as a detached process (`argv` runs `zapas pg wal-push --daemon …`) with the
 * environment this program needs and nothing else; its stdout and stderr go to the spool's log.
 */
export function spawnDaemon(argv: readonly string[], env: NodeJS.ProcessEnv, spool: string): StartedDaemon {
  const log = openSync(join(spool, DAEMON_LOG), 'a', 0o600);
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', log, log],
      env: childEnv('zapas', env),
    });
    child.on('error', () => undefined); // seen as its exit status
    child.unref();
    return child;
  } finally {
    closeSync(log);
  }
}

/**
 * The daemon: takes the spool's lock (one daemon per spool; a second one started meanwhile exits at once,
 * before it opens the repository), then pushes what is ready in `walDir` until nothing has been ready
 * for DAEMON_IDLE_MS.
 */
export async function runDaemon(
  openRepository: () => Promise<Repository>,
  source: string,
  walDir: string,
  spool: string,
  opts: { idleMs?: number; parallelism?: number } = {},
): Promise<number> {
  await prepareSpool(spool);
  await logLine(spool, 'started in daemon mode');
  const lock = await tryLock(join(spool, DAEMON_LOCK), DAEMON_LOCK_WAIT_MS);
  if (!lock) {
    await logLine(spool, 'another daemon holds the lock: exiting');
    return 0;
  }
  let pushed = 0;
  try {
    await logLine(spool, 'holds the lock');
    const archive = new WalArchive(await openRepository(), source);
    await writeAtomically(spool, DAEMON_PID, String(process.pid));
    const inFlight = new Set<string>();
    // Pushed by this daemon: PostgreSQL marks a file done only after archive_command answers, so it may
    // still look ready on the next scan.
    const finished = new Set<string>();
    let lastWork = Date.now();
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
      await sleep(POLL_MS * 4);
    }
    while (inFlight.size > 0) await sleep(POLL_MS);
  } catch (err) {
    await logLine(spool, `failed: ${(err as Error).message}`);
    throw err;
  } finally {
    await rm(join(spool, DAEMON_PID), { force: true });
    await logLine(spool, `exits after ${pushed} file(s)`);
    lock.release();
  }
  return pushed;
}

/**
 * The spool folder, private to its user (0700): what it holds decides what archive_command answers, so a
 * folder someone else made (in a shared temporary folder) is refused.
 */
async function prepareSpool(spool: string): Promise<void> {
  await mkdir(spool, { recursive: true, mode: 0o700 });
  const info = await stat(spool);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid)
    throw new SpoolError(
      `the spool folder ${spool} belongs to user id ${info.uid}, not to this user (${uid})`,
    );
  if ((info.mode & 0o777) !== 0o700) await chmod(spool, 0o700);
}

async function logLine(spool: string, text: string): Promise<void> {
  await appendFile(join(spool, DAEMON_LOG), `${new Date().toISOString()} pid ${process.pid} ${text}\n`, {
    mode: 0o600,
  });
}

async function rotateLog(spool: string): Promise<void> {
  const log = join(spool, DAEMON_LOG);
  const info = await stat(log).catch(() => undefined);
  if (info && info.size > DAEMON_LOG_MAX_BYTES) await rename(log, `${log}.1`);
}

/** The last line of the daemon log (what the daemon said as it ended). */
async function lastLogLine(spool: string): Promise<string> {
  const text = await readFile(join(spool, DAEMON_LOG), 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !/ exits after /.test(l));
  return `${lines.at(-1)?.trim() ?? 'it wrote nothing'} (log: ${join(spool, DAEMON_LOG)})`;
}

/** The pid the lock holder wrote; undefined when none did. */
async function holderPid(spool: string): Promise<number | undefined> {
  const text = await readFile(join(spool, DAEMON_PID), 'utf8').catch(() => '');
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** Writes a spool file beside its name and renames it: a reader never sees half of it. */
async function writeAtomically(spool: string, name: string, content: string): Promise<void> {
  const temp = join(spool, `.${name}.${process.pid}`);
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, join(spool, name));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    await archive.pushFile(name, join(walDir, name));
    marker = `${name}.ok`;
    content = '';
  } catch (err) {
    marker = `${name}.error`;
    content = (err as Error).message;
  }
  await writeAtomically(spool, marker, content);
  return marker.endsWith('.ok');
}
