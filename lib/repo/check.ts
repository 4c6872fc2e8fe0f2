import { ObjectNotFoundError } from '../storage/errors';
import { BlobDecoder } from './blob-codec';
import { type Keyring, packIdOf } from './crypto';
import { RepositoryError } from './errors';
import type { BlobId, IndexId, PackId } from './ids';
import { INDEX_PREFIX, type IndexedPack, MasterIndex } from './index-file';
import { BlobType, packObjectName, parsePack } from './pack';
import { choosePacks, type ReadDataSubset } from './read-data-subset';
import { mapLimit, type Repository } from './repository';
import { nodeDisplayName } from './tree';
import { transferOf, type WorkerPool } from './worker-pool';

/**
 * Packs verified at once with --read-data (each is read whole into memory): one per worker on this
 * 2-core machine. Four cost 30 MB more at the peak and were no faster (the CPU, not reading, is the limit).
 */
const READ_DATA_PARALLELISM = 2;
const PACK_NAME = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/;

export interface CheckOptions {
  /** Read back and authenticate this share of packs (0: structure only, 100: everything). */
  readDataPercent?: number;
  /** Which packs to read back and authenticate (restic's forms); takes the place of readDataPercent. */
  readDataSubset?: ReadDataSubset;
  /** Worker threads for read-back (otherwise it runs on this thread). */
  pool?: WorkerPool;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** One problem, naming the object that has it. */
export interface CheckProblem {
  readonly object: string;
  readonly message: string;
}

export interface CheckReport {
  errors: CheckProblem[];
  /** Harmless findings, e.g. packs left by an interrupted backup that a prune collects. */
  notes: CheckProblem[];
  snapshots: number;
  packs: number;
  blobs: number;
  packsRead: number;
  /** Stored bytes of the packs read back. */
  bytesRead: number;
}

/**
 * Checks a repository: every index object opens, every indexed pack exists, every snapshot opens and
 * every tree and data blob it references is indexed and its trees load; with readDataPercent, packs are
 * read back whole: pack hash = name, header authenticates and matches the index, and every blob
 * authenticates, decompresses and hashes to its id. Damage is collected and reported, not thrown.
 */
export async function checkRepository(repo: Repository, opts: CheckOptions = {}): Promise<CheckReport> {
  const report: CheckReport = {
    errors: [],
    notes: [],
    snapshots: 0,
    packs: 0,
    blobs: 0,
    packsRead: 0,
    bytesRead: 0,
  };
  const error = (object: string, message: string): void => {
    report.errors.push({ object, message });
  };

  // Snapshots first: a backup writes its index objects before its snapshot, so every snapshot listed
  // now has its index in storage when the index is read below. Listed after the index, a snapshot a
  // concurrent backup (another source's, under serve) saved meanwhile would point at trees this check
  // cannot see, reported as damage that is not there.
  const snapshots = await repo.listSnapshots((name, err) => error(name, describe(err)));

  // Index objects, one by one, so one damaged object does not hide the others.
  const index = new MasterIndex();
  const indexNames: string[] = [];
  for await (const info of repo.storage.list(INDEX_PREFIX)) indexNames.push(info.name);
  const loaded = new Map<IndexId, IndexedPack[]>();
  const superseded = new Set<IndexId>();
  await mapLimit(indexNames, 8, async (name) => {
    try {
      const decoded = await repo.readIndexObject(name.slice(INDEX_PREFIX.length) as IndexId);
      if (!decoded) return;
      loaded.set(name.slice(INDEX_PREFIX.length) as IndexId, decoded.packs);
      for (const s of decoded.supersedes) superseded.add(s);
    } catch (err) {
      error(name, describe(err));
    }
  });
  const packSource = new Map<PackId, IndexId>();
  for (const [id, packs] of loaded) {
    if (superseded.has(id)) continue;
    index.addIndex(id, packs);
    for (const p of packs) packSource.set(p.id, id);
  }
  repo.index = index;

  // Packs in storage versus packs in the index.
  const stored = new Map<PackId, number>();
  for await (const info of repo.storage.list('data/')) {
    const m = PACK_NAME.exec(info.name);
    if (m) stored.set(m[1] as PackId, info.size);
    else report.notes.push({ object: info.name, message: 'unexpected object in data/' });
  }
  for (const [pack, meta] of index.packs) {
    const size = stored.get(pack);
    if (size === undefined)
      error(packObjectName(pack), `pack missing (listed by index ${packSource.get(pack)?.slice(0, 12)})`);
    else if (size < meta.bytes)
      error(packObjectName(pack), `pack is truncated: ${size} bytes, its blobs alone need ${meta.bytes}`);
  }
  for (const pack of stored.keys()) {
    if (!index.packs.has(pack))
      report.notes.push({
        object: packObjectName(pack),
        message: 'pack in no index (left by an interrupted backup); prune removes it',
      });
  }
  report.packs = index.packs.size;
  report.blobs = index.size;

  // Snapshots and the trees and blobs they reference.
  report.snapshots = snapshots.length;
  const seenTrees = new Set<BlobId>();
  const missingData = new Set<BlobId>();
  const checkTree = async (id: BlobId, path: string, snapshot: string): Promise<void> => {
    if (seenTrees.has(id)) return;
    seenTrees.add(id);
    const entry = index.get(id);
    if (!entry)
      return error(
        `tree ${id}`,
        `missing from the index (folder ${path} of snapshot ${snapshot.slice(0, 8)})`,
      );
    if (entry.type !== BlobType.Tree) return error(`tree ${id}`, 'indexed as a data blob');
    let tree: Awaited<ReturnType<Repository['loadTree']>>;
    try {
      tree = await repo.loadTree(id);
    } catch (err) {
      return error(`tree ${id}`, `${describe(err)} (folder ${path} of snapshot ${snapshot.slice(0, 8)})`);
    }
    for (const node of tree.nodes) {
      const child = `${path === '/' ? '' : path}/${nodeDisplayName(node)}`;
      for (const blob of node.content ?? []) {
        if (!index.has(blob) && !missingData.has(blob)) {
          missingData.add(blob);
          error(`blob ${blob}`, `missing from the index (file ${child} of snapshot ${snapshot.slice(0, 8)})`);
        }
      }
      if (node.type === 'dir') {
        if (!node.subtree) error(`tree ${id}`, `folder ${child} has no subtree`);
        else await checkTree(node.subtree, child, snapshot);
      }
    }
  };
  for (const s of snapshots) await checkTree(s.snapshot.tree, '/', s.id);

  // Read-back of pack data.
  const subset = opts.readDataSubset ?? subsetOfPercent(opts.readDataPercent ?? 0);
  if (subset) {
    const readable = new Map([...stored].filter(([p]) => index.packs.has(p)));
    const chosen = choosePacks(readable, subset);
    const byPack = new Map<PackId, Map<BlobId, { offset: number; length: number }>>();
    for (const [id, e] of index.entries()) {
      let m = byPack.get(e.pack);
      if (!m) {
        m = new Map();
        byPack.set(e.pack, m);
      }
      m.set(id, { offset: e.offset, length: e.length });
    }
    let done = 0;
    await mapLimit(chosen, READ_DATA_PARALLELISM, async (pack) => {
      await readPack(repo, pack, byPack, error, opts.pool);
      opts.onProgress?.(++done, chosen.length, 'packs');
    });
    report.packsRead = chosen.length;
    report.bytesRead = chosen.reduce((sum, p) => sum + readable.get(p)!, 0);
  }
  return report;
}

async function readPack(
  repo: Repository,
  pack: PackId,
  byPack: ReadonlyMap<PackId, Map<BlobId, { offset: number; length: number }>>,
  error: (o: string, m: string) => void,
  pool?: WorkerPool,
): Promise<void> {
  const name = packObjectName(pack);
  let bytes: Buffer;
  try {
    bytes = await repo.storage.get(name);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return; // already reported as missing
    return error(name, describe(err));
  }
  const indexed = byPack.get(pack) ?? new Map<BlobId, { offset: number; length: number }>();
  // The pack's buffer is handed over to the worker, not copied, when it owns its memory.
  const problems = pool
    ? await pool.run<CheckProblem[]>(
        { op: 'verify-pack', packId: pack, bytes, indexed: [...indexed] },
        transferOf(bytes),
      )
    : verifyPackBytes(repo.keyring, pack, bytes, indexed);
  for (const p of problems) error(p.object, p.message);
}

/**
 * Verifies a whole pack held in memory: its hash is its name, its header authenticates and matches the
 * index, and every blob authenticates, decompresses and hashes to its id. Runs in worker threads too.
 * Blobs are decoded in place: `bytes` is the caller's no more.
 */
export function verifyPackBytes(
  keyring: Keyring,
  pack: PackId,
  bytes: Buffer,
  indexed: ReadonlyMap<BlobId, { offset: number; length: number }>,
  decoder = new BlobDecoder(keyring),
): CheckProblem[] {
  const name = packObjectName(pack);
  const problems: CheckProblem[] = [];
  // Hashed before blobs are decoded in place.
  if (packIdOf([bytes]) !== pack)
    problems.push({ object: name, message: 'content does not match its name (damaged)' });
  let entries: ReturnType<typeof parsePack>['entries'];
  try {
    entries = parsePack(keyring, bytes, name).entries;
  } catch (err) {
    problems.push({ object: name, message: describe(err) });
    return problems;
  }
  for (const e of entries) {
    const at = indexed.get(e.id);
    if (at && (at.offset !== e.offset || at.length !== e.length)) {
      problems.push({ object: name, message: `blob ${e.id} is at a different place than the index says` });
    }
    try {
      decoder.decode(e.id, bytes.subarray(e.offset, e.offset + e.length), e, name);
    } catch (err) {
      problems.push({ object: name, message: describe(err) });
    }
  }
  return problems;
}

function subsetOfPercent(percent: number): ReadDataSubset | undefined {
  if (percent <= 0) return undefined;
  return percent >= 100 ? { kind: 'all' } : { kind: 'percent', percent };
}

function describe(err: unknown): string {
  if (err instanceof RepositoryError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
