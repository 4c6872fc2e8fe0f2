import { randomBytes } from 'node:crypto';
import { ObjectExistsError, ObjectNotFoundError } from '../storage/errors';
import type { Storage } from '../storage/storage';
import { Chunker, type ChunkerParams, DEFAULT_CHUNKER_PARAMS, gearTable } from './chunker';
import { decompressBlob } from './compression';
import { AAD, blobIdOf, type Keyring, open, sha256Hex } from './crypto';
import {
  IntegrityError,
  MissingObjectError,
  RepositoryExistsError,
  RepositoryNotFoundError,
  SnapshotNotFoundError,
  UnsupportedFormatError,
  WrongKeyError,
} from './errors';
import type { BlobId, IndexId, SnapshotId } from './ids';
import { decodeIndex, INDEX_PREFIX, type IndexEntry, MasterIndex, type StoredIndex } from './index-file';
import { generateKeyring } from './keyring';
import { addKeySlot, type KeySlotCodec, type OnDamagedSlot, unlockKeyring } from './keyslots';
import { packObjectName } from './pack';
import { openJson, sealJson } from './sealed-json';
import { SNAPSHOTS_PREFIX, type Snapshot, type SnapshotRecord, snapshotObjectName } from './snapshot';
import { describeFilter, isEmptyFilter, matchesFilter, type SnapshotFilter } from './snapshot-filter';
import { decodeTree, type Tree } from './tree';

/** Name of the config object; its presence is what makes a folder or prefix a repository. */
export const CONFIG_NAME = 'config';
/** The format version this program writes and reads. */
export const FORMAT_VERSION = 1;

/** The repository config (sealed). */
export interface RepositoryConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams;
}

/** Loads a blob's bytes from a pack (a seam for caching and for ranged reads). */
export interface BlobSource {
  loadBlob(id: BlobId): Promise<Buffer>;
}

/** An open repository: its storage, keys, config, and readers for its objects. */
export class Repository implements BlobSource {
  readonly chunker: Chunker;
  /** Set by loadIndex(). */
  index = new MasterIndex();

  private constructor(
    readonly storage: Storage,
    readonly keyring: Keyring,
    readonly config: RepositoryConfig,
  ) {
    this.chunker = new Chunker(gearTable(keyring.chunkerSeed), config.chunker);
  }

  /** Creates a repository: key slot first, config last (the config's presence marks it as ready). */
  static async init(
    storage: Storage,
    codec: KeySlotCodec,
    chunker: ChunkerParams = DEFAULT_CHUNKER_PARAMS,
  ): Promise<Repository> {
    if (await storage.head(CONFIG_NAME))
      throw new RepositoryExistsError(`a repository already exists at ${storage.location}`);
    const keyring = generateKeyring();
    await addKeySlot(storage, keyring, codec);
    const config: RepositoryConfig = {
      version: FORMAT_VERSION,
      id: randomBytes(16).toString('hex'),
      created: new Date().toISOString(),
      chunker,
    };
    try {
      await storage.put(CONFIG_NAME, sealJson(keyring, config, AAD.config).bytes, { ifAbsent: true });
    } catch (err) {
      if (err instanceof ObjectExistsError)
        throw new RepositoryExistsError(`a repository already exists at ${storage.location}`, { cause: err });
      throw err;
    }
    return new Repository(storage, keyring, config);
  }

  /**
   * Opens a repository with the secret that `codec` holds; a damaged key slot is skipped (and told to
   * `onDamagedSlot`) while the others are tried.
   */
  static async open(
    storage: Storage,
    codec: KeySlotCodec,
    { onDamagedSlot }: { onDamagedSlot?: OnDamagedSlot } = {},
  ): Promise<Repository> {
    let sealed: Buffer;
    try {
      sealed = await storage.get(CONFIG_NAME);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new RepositoryNotFoundError(`no repository at ${storage.location} (no config object)`, {
          cause: err,
        });
      throw err;
    }
    const opens = (k: Keyring) => {
      try {
        open(k, sealed, AAD.config, CONFIG_NAME);
        return true;
      } catch {
        return false;
      }
    };
    let keyring: Keyring;
    try {
      ({ keyring } = await unlockKeyring(storage, codec, opens, onDamagedSlot));
    } catch (err) {
      // The secret opens a slot but no key opens the config: the config is what is damaged.
      if (
        err instanceof WrongKeyError &&
        (await unlockKeyring(storage, codec).then(
          () => true,
          () => false,
        ))
      ) {
        throw new IntegrityError(
          CONFIG_NAME,
          'config does not authenticate with the repository key (damaged or replaced)',
          { cause: err },
        );
      }
      throw err;
    }
    const config = openJson<RepositoryConfig>(keyring, sealed, AAD.config, CONFIG_NAME);
    if (!Number.isInteger(config.version) || config.version < 1) {
      throw new IntegrityError(
        CONFIG_NAME,
        `config names no valid format version (${String(config.version)})`,
      );
    }
    if (config.version > FORMAT_VERSION) {
      throw new UnsupportedFormatError(
        `repository format ${config.version} is newer than this zapas reads (${FORMAT_VERSION})`,
      );
    }
    return new Repository(storage, keyring, config);
  }

  /** Reads every index object into a fresh MasterIndex (index objects superseded by others are skipped). */
  async loadIndex(): Promise<MasterIndex> {
    const loaded = new Map<IndexId, ReturnType<typeof decodeIndex>>();
    const names: string[] = [];
    for await (const info of this.storage.list(INDEX_PREFIX)) names.push(info.name);
    await mapLimit(names, METADATA_READ_PARALLELISM, async (name) => {
      const id = name.slice(INDEX_PREFIX.length) as IndexId;
      const decoded = await this.readIndexObject(id);
      if (decoded) loaded.set(id, decoded);
    });
    const superseded = new Set<IndexId>();
    for (const idx of loaded.values()) for (const s of idx.supersedes) superseded.add(s);
    const index = new MasterIndex();
    for (const [id, idx] of loaded) if (!superseded.has(id)) index.addIndex(id, idx.packs);
    this.index = index;
    return index;
  }

  /** Reads one index object; undefined when it vanished meanwhile (a concurrent prune). */
  async readIndexObject(id: IndexId): Promise<ReturnType<typeof decodeIndex> | undefined> {
    const name = INDEX_PREFIX + id;
    let bytes: Buffer;
    try {
      bytes = await this.storage.get(name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return undefined;
      throw err;
    }
    if (sha256Hex(bytes) !== id) throw new IntegrityError(name, 'content does not match its name (damaged)');
    return decodeIndex(openJson<StoredIndex>(this.keyring, bytes, AAD.index, name), name);
  }

  /** Seals and stores a JSON metadata object under `<prefix><sha256>`; returns the id. */
  async saveJson(prefix: string, value: unknown, aad: Uint8Array): Promise<{ id: string; bytes: number }> {
    const { bytes, id } = sealJson(this.keyring, value, aad);
    await this.storage.put(prefix + id, bytes);
    return { id, bytes: bytes.length };
  }

  /** Loads and authenticates a content-addressed metadata object. */
  async loadJson<T>(name: string, aad: Uint8Array): Promise<T> {
    let bytes: Buffer;
    try {
      bytes = await this.storage.get(name);
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new MissingObjectError(name, 'missing from the repository', { cause: err });
      throw err;
    }
    const expected = name.slice(name.lastIndexOf('/') + 1);
    if (sha256Hex(bytes) !== expected)
      throw new IntegrityError(name, 'content does not match its name (damaged)');
    return openJson<T>(this.keyring, bytes, aad, name);
  }

  /** Every snapshot, oldest first. A damaged snapshot object throws (naming it) unless `onError` takes it. */
  async listSnapshots(onError?: (name: string, err: Error) => void): Promise<SnapshotRecord[]> {
    const names: string[] = [];
    for await (const info of this.storage.list(SNAPSHOTS_PREFIX)) names.push(info.name);
    const out: SnapshotRecord[] = [];
    await mapLimit(names, METADATA_READ_PARALLELISM, async (name) => {
      try {
        const snapshot = await this.loadJson<Snapshot>(name, AAD.snapshot);
        out.push({ id: name.slice(SNAPSHOTS_PREFIX.length) as SnapshotId, snapshot });
      } catch (err) {
        if (err instanceof MissingObjectError) return; // forgotten while we listed
        if (onError && err instanceof Error) onError(name, err);
        else throw err;
      }
    });
    return out.sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id));
  }

  /**
   * Finds a snapshot by id, unique id prefix, or `latest`: the newest of those `filter` lets in. An id
   * that the filter does not let in is refused, never quietly taken.
   */
  async findSnapshot(ref: string, filter: SnapshotFilter = {}): Promise<SnapshotRecord> {
    const scoped = isEmptyFilter(filter) ? '' : ` matching ${describeFilter(filter)}`;
    if (ref === 'latest') {
      const last = (await this.listSnapshots()).filter((s) => matchesFilter(s.snapshot, filter)).at(-1);
      if (!last) throw new SnapshotNotFoundError(`no snapshot${scoped} in ${this.storage.location}`);
      return last;
    }
    const found = await this.findSnapshotById(ref);
    if (!matchesFilter(found.snapshot, filter))
      throw new SnapshotNotFoundError(`snapshot ${found.id.slice(0, 8)} is not one${scoped}`);
    return found;
  }

  private async findSnapshotById(ref: string): Promise<SnapshotRecord> {
    if (!/^[0-9a-f]{4,64}$/.test(ref))
      throw new SnapshotNotFoundError(`"${ref}" is not a snapshot id (hex, at least 4 digits) or "latest"`);
    const matches: string[] = [];
    for await (const info of this.storage.list(SNAPSHOTS_PREFIX + ref.slice(0, 2))) {
      if (info.name.slice(SNAPSHOTS_PREFIX.length).startsWith(ref)) matches.push(info.name);
    }
    if (matches.length === 0)
      throw new SnapshotNotFoundError(`no snapshot ${ref} in ${this.storage.location}`);
    if (matches.length > 1)
      throw new SnapshotNotFoundError(`snapshot prefix ${ref} is ambiguous (${matches.length} matches)`);
    const name = matches[0]!;
    return {
      id: name.slice(SNAPSHOTS_PREFIX.length) as SnapshotId,
      snapshot: await this.loadJson<Snapshot>(name, AAD.snapshot),
    };
  }

  /** Writes a snapshot manifest: the commit point of a backup. */
  async saveSnapshot(snapshot: Snapshot): Promise<SnapshotId> {
    const { id } = await this.saveJson(SNAPSHOTS_PREFIX, snapshot, AAD.snapshot);
    return id as SnapshotId;
  }

  /** Removes a snapshot manifest (forget). */
  async deleteSnapshot(id: SnapshotId): Promise<void> {
    await this.storage.delete(snapshotObjectName(id));
  }

  /**
   * Loads a blob: ranged read from its pack, GCM authentication (with the blob id as AAD), decompression,
   * and a check that the keyed hash of the plaintext is the id (invariant 5).
   */
  async loadBlob(id: BlobId): Promise<Buffer> {
    const entry = this.index.get(id);
    if (!entry) throw new MissingObjectError(`blob ${id}`, 'not in the index');
    const packName = packObjectName(entry.pack);
    let sealed: Buffer;
    try {
      sealed = await this.storage.get(packName, { offset: entry.offset, length: entry.length });
    } catch (err) {
      if (err instanceof ObjectNotFoundError)
        throw new MissingObjectError(packName, `pack missing (holds blob ${id})`, { cause: err });
      throw err;
    }
    return this.openBlob(id, sealed, entry, packName);
  }

  /** Authenticates, decompresses and verifies a sealed blob read from `packName`. */
  async openBlob(
    id: BlobId,
    sealed: Buffer,
    entry: Pick<IndexEntry, 'compression' | 'rawLength' | 'length'>,
    packName: string,
  ): Promise<Buffer> {
    if (sealed.length !== entry.length) throw new IntegrityError(packName, `blob ${id} is truncated`);
    const payload = open(this.keyring, sealed, AAD.blob(id), `${packName} (blob ${id})`);
    let plain: Buffer;
    try {
      plain = await decompressBlob(payload, entry.compression, entry.rawLength);
    } catch (cause) {
      throw new IntegrityError(packName, `blob ${id} does not decompress`, { cause });
    }
    if (plain.length !== entry.rawLength || blobIdOf(this.keyring, plain) !== id) {
      throw new IntegrityError(packName, `blob ${id} does not match its id`);
    }
    return plain;
  }

  /** Loads and parses a tree blob. */
  async loadTree(id: BlobId): Promise<Tree> {
    return decodeTree(await this.loadBlob(id), `tree ${id}`);
  }
}

/** Parallel reads of small metadata objects (index, snapshots): enough to hide S3 latency. */
export const METADATA_READ_PARALLELISM = 16;

/**
 * Runs `fn` over `items` with at most `limit` calls in flight. After a failure no new call starts, and
 * the promise rejects with the first error only once the calls in flight have settled: nothing keeps
 * running in the background after the caller has moved on (or closed what those calls use).
 */
export async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
