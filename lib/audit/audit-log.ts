/**
 * The audit trail of a repository: events hash-chained and sealed (audit-object.ts), one immutable
 * object per event under `audit/`, written put-if-absent at the next sequence number so that of two
 * writers reaching for the same number exactly one wins; the other reads what won and tries the number
 * after it. Nothing forks and nothing is lost, across processes and machines, on any storage whose
 * put-if-absent is atomic (a folder; AWS S3 and Yandex with If-None-Match). When a catalog is given, the
 * chain's head is also kept there (record `audit-head`, compare-and-set), so a truncated tail shows.
 */
import type { Catalog } from '../catalog/catalog';
import type { Keyring } from '../repo/crypto';
import { IntegrityError, MissingObjectError } from '../repo/errors';
import { ObjectExistsError, ObjectNotFoundError } from '../storage/errors';
import type { PutOptions, Storage } from '../storage/storage';
import { auditObjectName, openEvent, sealEvent } from './audit-object';
import { eventHash, GENESIS_HASH } from './canonical';
import type { AuditEntry, AuditEvent, AuditSink } from './event';

/** What the trail needs of a repository (a Repository is one; key verbs pass their storage and keyring). */
export interface AuditRepository {
  readonly storage: Storage;
  readonly keyring: Keyring;
  /** The repository's id: the catalog record's key. Needed only with a catalog. */
  readonly config?: { readonly id: string };
}

/** The newest event of a chain: its sequence number and hash (0 and 64 zeros for an empty trail). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** S3 Object Lock retention for each event object (ignored by storage without Object Lock). */
export interface AuditRetention {
  mode: 'GOVERNANCE' | 'COMPLIANCE';
  days: number;
}

export interface AuditLogOptions {
  /** Keeps the head in the catalog as well (record kind `audit-head`, key: the repository id). */
  catalog?: Catalog;
  /** Writes every event object with this retention where the storage supports it (S3 Object Lock). */
  retention?: AuditRetention;
  /** The time of entries that bring none (default: now). */
  now?: () => Date;
}

/** The trail cannot be appended to: its chain is broken where a writer must build on it. */
export class AuditChainError extends IntegrityError {}

/** The put options an adapter with Object Lock reads (lib/storage/s3.ts `S3PutOptions`, same shape). */
interface RetainedPut extends PutOptions {
  readonly retention?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly until: Date };
}

const DAY_MS = 86_400_000;

export class AuditLog implements AuditSink {
  private known: AuditHead | undefined;
  /** Appends of this process, one after the other (each builds on the one before). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly repo: AuditRepository,
    private readonly opts: AuditLogOptions = {},
  ) {
    if (opts.catalog && !repo.config)
      throw new TypeError('an audit log with a catalog needs the repository id (repo.config.id)');
    if (opts.retention && !(Number.isSafeInteger(opts.retention.days) && opts.retention.days >= 1))
      throw new RangeError(`audit retention must be a whole number of days, not ${opts.retention.days}`);
  }

  /** Appends `entry` as the next event; resolves once it is durable (and the catalog's head moved). */
  append(entry: AuditEntry): Promise<AuditEvent> {
    const run = this.queue.then(() => this.appendNow(entry));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The newest event's place, found in storage (starting from the catalog's head when there is one). */
  async head(): Promise<AuditHead> {
    if (this.known) return this.findHead(this.known.seq, this.known);
    return this.findHead((await this.catalogHead())?.seq ?? 0);
  }

  private async appendNow(entry: AuditEntry): Promise<AuditEvent> {
    let head = this.known ?? (await this.head());
    const time = entry.time ?? (this.opts.now?.() ?? new Date()).toISOString();
    for (;;) {
      const event: AuditEvent = { ...entry, time, seq: head.seq + 1, prev: head.hash };
      const name = auditObjectName(event.seq);
      try {
        await this.repo.storage.put(name, sealEvent(this.repo.keyring, event), this.putOptions());
      } catch (err) {
        if (!(err instanceof ObjectExistsError)) throw err;
        // Another writer took this number: build on the newest event instead.
        head = await this.findHead(event.seq);
        continue;
      }
      this.known = { seq: event.seq, hash: eventHash(event) };
      await this.advanceCatalogHead(this.known);
      return event;
    }
  }

  private putOptions(): RetainedPut {
    const r = this.opts.retention;
    if (!r) return { ifAbsent: true };
    const now = this.opts.now?.() ?? new Date();
    return { ifAbsent: true, retention: { mode: r.mode, until: new Date(now.getTime() + r.days * DAY_MS) } };
  }

  /**
   * The highest sequence number from `fromSeq` on (which exists, or is 0), by doubling steps then
   * halving: a few head requests, however long the trail. Its hash is read from the event itself, unless
   * it is `mine`, the event this log wrote last.
   */
  private async findHead(fromSeq: number, mine?: AuditHead): Promise<AuditHead> {
    let lo = fromSeq;
    let step = 1;
    let hi: number;
    for (;;) {
      if (await this.exists(lo + step)) {
        lo += step;
        step *= 2;
      } else {
        hi = lo + step;
        break;
      }
    }
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (await this.exists(mid)) lo = mid;
      else hi = mid;
    }
    if (lo === 0) return { seq: 0, hash: GENESIS_HASH };
    if (mine && lo === mine.seq) return mine;
    return { seq: lo, hash: await this.hashOf(lo) };
  }

  private async exists(seq: number): Promise<boolean> {
    return (await this.repo.storage.head(auditObjectName(seq))) !== undefined;
  }

  private async hashOf(seq: number): Promise<string> {
    const name = auditObjectName(seq);
    let bytes: Buffer;
    try {
      bytes = await this.repo.storage.get(name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new MissingObjectError(name, 'the audit trail ends before it (run `zapas audit verify`)', {
          cause: err,
        });
      throw err;
    }
    try {
      return eventHash(openEvent(this.repo.keyring, bytes, seq, name));
    } catch (err) {
      throw new AuditChainError(name, 'the newest audit event does not open; nothing can be chained to it', {
        cause: err,
      });
    }
  }

  private async catalogHead(): Promise<AuditHead | undefined> {
    const { catalog } = this.opts;
    return catalog ? readCatalogHead(catalog, this.repo.config!.id) : undefined;
  }

  /** Moves the catalog's head to `head` unless another writer moved it as far already. */
  private async advanceCatalogHead(head: AuditHead): Promise<void> {
    const { catalog } = this.opts;
    if (!catalog) return;
    const key = this.repo.config!.id;
    for (;;) {
      const record = await catalog.getRecord('audit-head', key);
      const stored = record ? headOfRecord(record.value) : undefined;
      if (stored && stored.seq >= head.seq) return;
      const value = { seq: head.seq, hash: head.hash, time: new Date().toISOString() };
      if (await catalog.putRecord('audit-head', key, value, record?.revision ?? 0)) return;
    }
  }
}

/** The head the catalog keeps for repository `repositoryId`, if any (a malformed record is an error). */
export async function readCatalogHead(
  catalog: Catalog,
  repositoryId: string,
): Promise<AuditHead | undefined> {
  const record = await catalog.getRecord('audit-head', repositoryId);
  if (!record) return undefined;
  const head = headOfRecord(record.value);
  if (!head) throw new IntegrityError(`catalog record audit-head/${repositoryId}`, 'not an audit head');
  return head;
}

function headOfRecord(value: Record<string, unknown>): AuditHead | undefined {
  const { seq, hash } = value;
  return Number.isSafeInteger(seq) &&
    (seq as number) >= 1 &&
    typeof hash === 'string' &&
    /^[0-9a-f]{64}$/.test(hash)
    ? { seq: seq as number, hash }
    : undefined;
}
