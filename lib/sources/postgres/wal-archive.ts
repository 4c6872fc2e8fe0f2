import { createHmac } from 'node:crypto';
import { open as openFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RepositoryError } from '../../repo/errors';
import type { Repository } from '../../repo/repository';
import { ObjectExistsError, ObjectNotFoundError } from '../../storage/errors';
import { SourceIdentity } from './source-identity';
import { LONG_HEADER_BYTES, readSegmentHeader } from './wal-header';
import { walFileKind } from './wal-names';
import {
  contentOfBuffer,
  decodeWal,
  encodeWal,
  hashOf,
  openWal,
  type WalContent,
  withFileContent,
  writeDecodedWal,
} from './wal-object';

/** Folder of archived WAL: `wal/<stanza>/<timeline>/<file name>`. */
export const WAL_PREFIX = 'wal/';
/** Fetched WAL files are readable by their owner (PostgreSQL) only. */
const FETCHED_FILE_MODE = 0o600;

/** A WAL file name is archived already with other content: PostgreSQL must not be told it is safe. */
export class WalConflictError extends RepositoryError {
  override readonly name = 'WalConflictError';
}

/** A file name that archive_command or restore_command would never pass. */
export class WalNameError extends RepositoryError {
  override readonly name = 'WalNameError';
}

/**
 * The folder name of a source's WAL: a keyed hash of the source name, so storage does not show which
 * databases are backed up (the name itself is in the encrypted snapshots).
 */
export function stanzaOf(macKey: Buffer, source: string): string {
  return createHmac('sha256', macKey).update(`zapas/pg-source/v1/${source}`).digest('hex').slice(0, 32);
}

/** One archived WAL file, opened and verified. */
export interface WalFile {
  data: Buffer;
  /** When zapas archived it (the file was complete then: an upper bound on the time of its records). */
  archivedAt: Date;
}

/** What the archive holds of one name (from a listing: no content read). */
export interface WalEntry {
  name: string;
  size: number;
}

/**
 * The WAL archive of one PostgreSQL source in a repository: each file one object, compressed and sealed
 * with its name and source in the AAD (an object moved to another name or source does not open), holding
 * the SHA-256 of the file so that a second push of the same name can be told apart from a different file.
 */
export class WalArchive {
  readonly stanza: string;
  /** The cluster the source belongs to: every segment pushed must come from it. */
  readonly identity: SourceIdentity;

  constructor(
    private readonly repo: Repository,
    readonly source: string,
  ) {
    this.stanza = stanzaOf(repo.keyring.macKey, source);
    this.identity = new SourceIdentity(repo, source, `${WAL_PREFIX}${this.stanza}/`, this.stanza);
  }

  /** The storage name of a WAL file. */
  objectName(name: string): string {
    assertWalName(name);
    return `${WAL_PREFIX}${this.stanza}/${name.slice(0, 8)}/${name}`;
  }

  /**
   * Archives a WAL file; durable when it resolves. The same name with the same content is "present" (a
   * repeated archive_command after a crash); with other content it is a WalConflictError. A segment must
   * come from the source's cluster (its header's system identifier; the first one pushed or backed up
   * records it): another cluster's is a SystemIdMismatchError.
   */
  push(name: string, data: Buffer, now = new Date()): Promise<'stored' | 'present'> {
    return this.store(name, contentOfBuffer(data), now);
  }

  /** push() of the file at `path`, read through one small buffer (never whole in memory). */
  pushFile(name: string, path: string, now = new Date()): Promise<'stored' | 'present'> {
    return withFileContent(path, (content) => this.store(name, content, now));
  }

  /** Reads and verifies one WAL file; undefined when it is not archived. Damage is an IntegrityError. */
  async fetch(name: string): Promise<WalFile | undefined> {
    const objectName = this.objectName(name);
    const sealed = await this.sealedOf(objectName);
    if (!sealed) return undefined;
    const { header, body } = openWal(this.repo.keyring, sealed, this.aad(name), objectName);
    return { data: decodeWal(header, body, objectName), archivedAt: header.archivedAt };
  }

  /**
   * fetch() into the file `path` (mode 0600), through one small buffer: written beside it, verified, then
   * renamed over it, so PostgreSQL never sees half a file or one that did not verify. Undefined (and
   * nothing written) when the file is not archived.
   */
  async fetchToFile(name: string, path: string): Promise<Omit<WalFile, 'data'> | undefined> {
    const objectName = this.objectName(name);
    const sealed = await this.sealedOf(objectName);
    if (!sealed) return undefined;
    const { header, body } = openWal(this.repo.keyring, sealed, this.aad(name), objectName);
    const temp = join(dirname(path), `.zapas-fetch-${process.pid}-${basename(path)}`);
    try {
      const handle = await openFile(temp, 'w', FETCHED_FILE_MODE);
      try {
        await writeDecodedWal(header, body, objectName, async (part) => {
          for (let at = 0; at < part.length; ) at += (await handle.write(part, at)).bytesWritten;
        });
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    } finally {
      await rm(temp, { force: true });
    }
    return { archivedAt: header.archivedAt };
  }

  /** Every archived file name of one timeline, or of all (unordered). */
  async list(timeline?: number): Promise<WalEntry[]> {
    const prefix =
      timeline === undefined
        ? `${WAL_PREFIX}${this.stanza}/`
        : `${WAL_PREFIX}${this.stanza}/${timeline.toString(16).toUpperCase().padStart(8, '0')}/`;
    const out: WalEntry[] = [];
    for await (const o of this.repo.storage.list(prefix)) {
      const name = o.name.slice(o.name.lastIndexOf('/') + 1);
      if (walFileKind(name)) out.push({ name, size: o.size });
    }
    return out;
  }

  /** Removes one archived file (retention). */
  async remove(name: string): Promise<void> {
    await this.repo.storage.delete(this.objectName(name));
  }

  private async store(name: string, content: WalContent, now: Date): Promise<'stored' | 'present'> {
    const objectName = this.objectName(name);
    const kind = walFileKind(name);
    if (kind === 'segment' || kind === 'partial') {
      const header = readSegmentHeader(name, await content.head(LONG_HEADER_BYTES));
      await this.identity.claim(header.systemId, `WAL file ${name}`, now);
    }
    const stored = await this.existingHash(objectName, name);
    if (stored) return this.sameOrConflict(name, stored, await hashOf(name, content));
    const { sealed, sha256 } = await encodeWal(this.repo.keyring, this.aad(name), name, content, now);
    try {
      await this.repo.storage.put(objectName, sealed, { ifAbsent: true });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      // Another push of this name got there first.
      const other = await this.existingHash(objectName, name);
      if (other) return this.sameOrConflict(name, other, sha256);
      throw err;
    }
    return 'stored';
  }

  private aad(name: string): Buffer {
    return Buffer.from(`zapas/wal/v1/${this.stanza}/${name}`);
  }

  /** The SHA-256 of what is archived under a name, or undefined when nothing is. */
  private async existingHash(objectName: string, name: string): Promise<Buffer | undefined> {
    if (!(await this.repo.storage.head(objectName))) return undefined;
    const sealed = await this.sealedOf(objectName);
    return sealed && openWal(this.repo.keyring, sealed, this.aad(name), objectName).header.sha256;
  }

  /** A stored object's bytes, or undefined when it is not there. */
  private async sealedOf(objectName: string): Promise<Buffer | undefined> {
    try {
      return await this.repo.storage.get(objectName);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
  }

  private sameOrConflict(name: string, stored: Buffer, sha: Buffer): 'present' {
    if (stored.equals(sha)) return 'present';
    throw new WalConflictError(
      `${name} is archived already with different content (SHA-256 ${stored.toString('hex').slice(0, 16)}… ` +
        `against ${sha.toString('hex').slice(0, 16)}…): not overwritten; is another cluster archiving ` +
        `to source "${this.source}"?`,
    );
  }
}

function assertWalName(name: string): void {
  if (!walFileKind(name))
    throw new WalNameError(
      `"${name}" is not a WAL file name (a segment such as 000000010000000000000003, a .history, .backup or .partial file)`,
    );
}
