import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ObjectNotFoundError } from '../storage/errors';
import { type Clock, systemClock } from './clock';
import { AAD } from './crypto';
import { IntegrityError, LockedError } from './errors';
import type { Repository } from './repository';
import { openJson, sealJson } from './sealed-json';

/** Folder of lock objects. */
export const LOCKS_PREFIX = 'locks/';
/** A lock not refreshed for this long belongs to a dead process and is ignored. */
export const LOCK_STALE_MS = 30 * 60 * 1000;
/** How often a held lock is rewritten. */
export const LOCK_REFRESH_MS = 5 * 60 * 1000;

/**
 * Lock kinds. Backups never block each other nor prune: prune's two-phase deletion keeps them safe
 * (docs/locking.md). A `backup` lock only announces a running backup and which prune marks it has
 * seen. `shared` (check, restore, copy's source) conflicts with `exclusive` (prune). `forget` takes no
 * lock: removing a snapshot only drops references, which is safe at any time.
 */
export type LockKind = 'backup' | 'shared' | 'exclusive';

export interface StoredLock {
  kind: LockKind;
  hostname: string;
  pid: number;
  created: string;
  refreshed: string;
  /** Prune marks (condemned/ ids) this process had loaded when it took the lock. */
  sawMarks: string[];
}

export interface LockRecord {
  readonly id: string;
  readonly lock: StoredLock;
  readonly stale: boolean;
}

/** Locks this process holds now, for releaseHeldLocks (a signal must not leave them behind). */
const heldLocks = new Set<Lock>();

function conflicts(a: LockKind, b: LockKind): boolean {
  if (a === 'backup' || b === 'backup') return false;
  return a === 'exclusive' || b === 'exclusive';
}

/** A lock held by this process; refresh keeps it live until release(). */
export class Lock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  /** The lock object being written now (taking or refreshing), which a release must wait for. */
  private writing: { name: string; done: Promise<void> } | undefined;

  private constructor(
    private readonly repo: Repository,
    private id: string,
    private readonly lock: StoredLock,
    private readonly clock: Clock,
  ) {}

  /** Takes a lock, or throws LockedError naming the holder of a conflicting live lock. */
  static async acquire(
    repo: Repository,
    kind: LockKind,
    opts: { sawMarks?: string[]; clock?: Clock } = {},
  ): Promise<Lock> {
    const clock = opts.clock ?? systemClock;
    const now = clock.now().toISOString();
    const lock: StoredLock = {
      kind,
      hostname: hostname(),
      pid: process.pid,
      created: now,
      refreshed: now,
      sawMarks: opts.sawMarks ?? [],
    };
    const id = randomBytes(16).toString('hex');
    // Known as held before it is written: a signal that comes during the put still finds it to release.
    const held = new Lock(repo, id, lock, clock);
    heldLocks.add(held);
    try {
      await held.write(id);
    } catch (err) {
      heldLocks.delete(held);
      throw err;
    }
    if (held.released) {
      await repo.storage.delete(LOCKS_PREFIX + id);
      throw new LockedError('the lock was released while it was being taken (the process is stopping)');
    }
    const others = (await listLocks(repo, clock)).filter(
      (l) => l.id !== id && !l.stale && conflicts(kind, l.lock.kind),
    );
    if (others.length > 0) {
      heldLocks.delete(held);
      await repo.storage.delete(LOCKS_PREFIX + id);
      const o = others[0]!.lock;
      throw new LockedError(
        `repository is locked ${o.kind === 'exclusive' ? 'exclusively' : 'by a reader'} by pid ${o.pid} on ${o.hostname} since ${o.created} (lock ${others[0]!.id.slice(0, 8)}); if that process is gone, run \`zapas unlock\``,
      );
    }
    held.timer = setInterval(() => void held.refresh().catch(() => undefined), LOCK_REFRESH_MS);
    held.timer.unref();
    return held;
  }

  /** Rewrites the lock with a new time (a new object, then the old one removed: objects are never edited). */
  async refresh(update: { sawMarks?: string[] } = {}): Promise<void> {
    const next = randomBytes(16).toString('hex');
    this.lock.refreshed = this.clock.now().toISOString();
    if (update.sawMarks) this.lock.sawMarks = update.sawMarks;
    await this.write(next);
    // Released while the new object was written: it must not outlive the release.
    if (this.released) return this.repo.storage.delete(LOCKS_PREFIX + next);
    const old = this.id;
    this.id = next;
    await this.repo.storage.delete(LOCKS_PREFIX + old);
  }

  /**
   * Releases the lock. A lock object still being written (a signal during acquire or refresh) is
   * waited for and removed too: it would otherwise land after the release, and outlive the process.
   */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.released = true;
    heldLocks.delete(this);
    const inFlight = this.writing;
    await inFlight?.done;
    await this.repo.storage.delete(LOCKS_PREFIX + this.id);
    if (inFlight && inFlight.name !== this.id) await this.repo.storage.delete(LOCKS_PREFIX + inFlight.name);
  }

  private async write(name: string): Promise<void> {
    const put = this.repo.storage.put(
      LOCKS_PREFIX + name,
      sealJson(this.repo.keyring, this.lock, AAD.lock).bytes,
    );
    // `done` settles either way: a write that failed has nothing to release.
    const writing = {
      name,
      done: put.then(
        () => undefined,
        () => undefined,
      ),
    };
    this.writing = writing;
    try {
      await put;
    } finally {
      if (this.writing === writing) this.writing = undefined;
    }
  }
}

/**
 * Releases every lock this process holds, at once: what an interrupted command does before it exits,
 * so that no `zapas unlock` is needed after Ctrl-C. A release that fails leaves a lock that goes stale.
 */
export async function releaseHeldLocks(): Promise<void> {
  await Promise.allSettled([...heldLocks].map((lock) => lock.release()));
}

/** Every lock in the repository, with its staleness. */
export async function listLocks(repo: Repository, clock: Clock = systemClock): Promise<LockRecord[]> {
  const out: LockRecord[] = [];
  for await (const info of repo.storage.list(LOCKS_PREFIX)) {
    let bytes: Buffer;
    try {
      bytes = await repo.storage.get(info.name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) continue; // released while we listed
      throw err;
    }
    let lock: StoredLock;
    try {
      lock = openJson<StoredLock>(repo.keyring, bytes, AAD.lock, info.name);
    } catch (err) {
      if (err instanceof IntegrityError) continue; // a half-written or foreign lock cannot hold anyone back
      throw err;
    }
    const age = clock.now().getTime() - Date.parse(lock.refreshed);
    const deadHere = lock.hostname === hostname() && lock.pid !== process.pid && !processAlive(lock.pid);
    out.push({ id: info.name.slice(LOCKS_PREFIX.length), lock, stale: age > LOCK_STALE_MS || deadHere });
  }
  return out;
}

/** Removes stale locks (or all locks with `all`); returns how many. */
export async function removeLocks(
  repo: Repository,
  all: boolean,
  clock: Clock = systemClock,
): Promise<number> {
  let removed = 0;
  for (const l of await listLocks(repo, clock)) {
    if (all || l.stale) {
      await repo.storage.delete(LOCKS_PREFIX + l.id);
      removed++;
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
