import { createHash, createHmac } from 'node:crypto';
import { Compression, compressBlob, decompressBlob } from '../../repo/compression';
import { open, seal } from '../../repo/crypto';
import { IntegrityError, RepositoryError } from '../../repo/errors';
import type { Repository } from '../../repo/repository';
import { ObjectExistsError, ObjectNotFoundError } from '../../storage/errors';
import { SourceIdentity } from './source-identity';
import { readSegmentHeader } from './wal-header';
import { walFileKind } from './wal-names';

/** Folder of archived WAL: `wal/<stanza>/<timeline>/<file name>`. */
export const WAL_PREFIX = 'wal/';

/** Version of the plaintext layout inside a WAL object's envelope. */
const WAL_OBJECT_VERSION = 1;
/** Bytes of the plaintext header: version, compression, raw length, archive time, SHA-256. */
const HEADER_BYTES = 1 + 1 + 8 + 8 + 32;
/** WAL files are at most 1 GiB (the largest wal_segment_size); a header claiming more is damage. */
const MAX_WAL_FILE_BYTES = 1024 * 1024 * 1024;

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
  async push(name: string, data: Buffer, now = new Date()): Promise<'stored' | 'present'> {
    const objectName = this.objectName(name);
    const kind = walFileKind(name);
    if (kind === 'segment' || kind === 'partial')
      await this.identity.claim(readSegmentHeader(name, data).systemId, `WAL file ${name}`, now);
    const sha = createHash('sha256').update(data).digest();
    const stored = await this.existingHash(objectName, name);
    if (stored) return this.sameOrConflict(name, stored, sha);
    const { payload, compression } = await compressBlob(data);
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = WAL_OBJECT_VERSION;
    header[1] = compression;
    header.writeBigUInt64LE(BigInt(data.length), 2);
    header.writeBigUInt64LE(BigInt(now.getTime()), 10);
    sha.copy(header, 18);
    const sealed = seal(this.repo.keyring, Buffer.concat([header, payload]), this.aad(name));
    try {
      await this.repo.storage.put(objectName, sealed, { ifAbsent: true });
    } catch (err) {
      if (!(err instanceof ObjectExistsError)) throw err;
      // Another push of this name got there first.
      const other = await this.existingHash(objectName, name);
      if (other) return this.sameOrConflict(name, other, sha);
      throw err;
    }
    return 'stored';
  }

  /** Reads and verifies one WAL file; undefined when it is not archived. Damage is an IntegrityError. */
  async fetch(name: string): Promise<WalFile | undefined> {
    const objectName = this.objectName(name);
    let sealed: Buffer;
    try {
      sealed = await this.repo.storage.get(objectName);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    const plain = open(this.repo.keyring, sealed, this.aad(name), objectName);
    const header = parseHeader(plain, objectName);
    const data = await decompressBlob(
      plain.subarray(HEADER_BYTES),
      header.compression,
      header.rawLength,
    ).catch((cause: Error) => {
      throw new IntegrityError(objectName, `does not decompress (${cause.message})`, { cause });
    });
    if (data.length !== header.rawLength)
      throw new IntegrityError(objectName, `holds ${data.length} bytes, its header says ${header.rawLength}`);
    if (!createHash('sha256').update(data).digest().equals(header.sha256))
      throw new IntegrityError(objectName, 'content does not match its SHA-256');
    return { data, archivedAt: header.archivedAt };
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

  private aad(name: string): Buffer {
    return Buffer.from(`zapas/wal/v1/${this.stanza}/${name}`);
  }

  /** The SHA-256 of what is archived under a name, or undefined when nothing is. */
  private async existingHash(objectName: string, name: string): Promise<Buffer | undefined> {
    if (!(await this.repo.storage.head(objectName))) return undefined;
    try {
      const sealed = await this.repo.storage.get(objectName);
      return parseHeader(open(this.repo.keyring, sealed, this.aad(name), objectName), objectName).sha256;
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

function parseHeader(plain: Buffer, objectName: string) {
  if (plain.length < HEADER_BYTES || plain[0] !== WAL_OBJECT_VERSION)
    throw new IntegrityError(objectName, 'not a WAL object of a version this program reads');
  const compression = plain[1] as Compression;
  if (compression !== Compression.None && compression !== Compression.Zstd)
    throw new IntegrityError(objectName, `unknown compression ${compression}`);
  const rawLength = Number(plain.readBigUInt64LE(2));
  if (rawLength > MAX_WAL_FILE_BYTES) throw new IntegrityError(objectName, `claims ${rawLength} bytes`);
  return {
    compression,
    rawLength,
    archivedAt: new Date(Number(plain.readBigUInt64LE(10))),
    sha256: Buffer.from(plain.subarray(18, 50)),
  };
}
