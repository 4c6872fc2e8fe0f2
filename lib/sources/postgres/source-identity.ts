import { RepositoryError } from '../../repo/errors';
import type { Repository } from '../../repo/repository';
import { openJson, sealJson } from '../../repo/sealed-json';
import { ObjectExistsError, ObjectNotFoundError } from '../../storage/errors';

/**
 * Which cluster a PostgreSQL source belongs to: the system identifier of pg_control, recorded once in
 * the repository by the first WAL file or base backup of the source (written only if absent, never
 * changed), then compared with every later one. A second cluster archiving into the same source would
 * otherwise mix its WAL with the first one's: a restore would replay WAL of another database, or stop at
 * a file that does not fit.
 */

/** The object's name below the source's stanza folder: `wal/<stanza>/system-id`. */
export const SYSTEM_ID_NAME = 'system-id';

/** The record as stored. */
interface StoredIdentity {
  version: 1;
  systemId: string;
  recorded: string;
  /** What recorded it: a WAL file's name, or "base backup". */
  by: string;
}

/** pg_control's system identifier: an unsigned 64-bit integer in decimal. */
const SYSTEM_ID = /^\d{1,20}$/;

/**
 * What is wrong with a parsed record, or undefined when it is one. Hand-written, not zod: wal-push and
 * wal-fetch are the only readers in the bundle PostgreSQL starts per segment, and loading zod was a
 * measurable part of that start (see bench/results.md, bench:wal).
 */
function recordProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const r = value as Partial<Record<keyof StoredIdentity, unknown>>;
  if (r.version !== 1) return `version ${JSON.stringify(r.version)}, not 1`;
  if (typeof r.systemId !== 'string' || !SYSTEM_ID.test(r.systemId))
    return `systemId ${JSON.stringify(r.systemId)} is not a decimal system identifier`;
  for (const k of ['recorded', 'by'] as const) if (typeof r[k] !== 'string') return `${k} is not a string`;
  return undefined;
}

/** A WAL file or a server of another cluster than the one the source belongs to. */
export class SystemIdMismatchError extends RepositoryError {
  override readonly name = 'SystemIdMismatchError';
}

/** The recorded system identifier of one source. */
export class SourceIdentity {
  /** Known to match (or just recorded): later files of this process need no read. */
  private confirmed: string | undefined;

  constructor(
    private readonly repo: Repository,
    private readonly source: string,
    /** The folder of the source's WAL (`wal/<stanza>/`). */
    private readonly folder: string,
    private readonly stanza: string,
  ) {}

  /** The storage name of the record. */
  get objectName(): string {
    return `${this.folder}${SYSTEM_ID_NAME}`;
  }

  /** The recorded system identifier; undefined while the source has none. */
  async read(): Promise<string | undefined> {
    let sealed: Buffer;
    try {
      sealed = await this.repo.storage.get(this.objectName);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    const value = openJson<unknown>(this.repo.keyring, sealed, this.aad(), this.objectName);
    const problem = recordProblem(value);
    if (problem !== undefined)
      throw new RepositoryError(`${this.objectName}: not a system identifier record (${problem})`);
    return (value as StoredIdentity).systemId;
  }

  /**
   * Records `systemId` as the source's when it has none; else requires it to be the recorded one.
   * `what` names where it comes from in the refusal ("WAL file 0000…", "the server").
   */
  async claim(systemId: string, what: string, now = new Date()): Promise<void> {
    if (this.confirmed === systemId) return;
    let recorded = await this.read();
    if (recorded === undefined) {
      const record: StoredIdentity = { version: 1, systemId, recorded: now.toISOString(), by: what };
      try {
        await this.repo.storage.put(this.objectName, sealJson(this.repo.keyring, record, this.aad()).bytes, {
          ifAbsent: true,
        });
        recorded = systemId;
      } catch (err) {
        if (!(err instanceof ObjectExistsError)) throw err;
        recorded = await this.read(); // another push recorded it first
      }
    }
    this.requireSame(recorded, systemId, what);
  }

  /** Requires `systemId` to be the recorded one, if one is recorded (nothing is written). */
  async verify(systemId: string, what: string): Promise<void> {
    const recorded = await this.read();
    if (recorded !== undefined) this.requireSame(recorded, systemId, what);
  }

  private requireSame(recorded: string | undefined, systemId: string, what: string): void {
    if (recorded === systemId) {
      this.confirmed = systemId;
      return;
    }
    throw new SystemIdMismatchError(
      `source "${this.source}" belongs to the cluster with system identifier ${recorded}, but ${what} ` +
        `comes from the cluster with system identifier ${systemId}: refused. Is another cluster archiving ` +
        `to this source? Give each cluster a source of its own (--source).`,
    );
  }

  private aad(): Buffer {
    return Buffer.from(`zapas/pg-system-id/v1/${this.stanza}`);
  }
}
