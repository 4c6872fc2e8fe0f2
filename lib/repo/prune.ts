import { ObjectNotFoundError } from '../storage/errors';
import { BlobWriter } from './blob-writer';
import { type Clock, systemClock } from './clock';
import { AAD } from './crypto';
import { MissingObjectError, RepositoryError } from './errors';
import type { BlobId, IndexId, PackId } from './ids';
import { encodeIndex, INDEX_PREFIX, type IndexedPack } from './index-file';
import { Lock, listLocks } from './lock';
import { BlobType, packObjectName } from './pack';
import { CONDEMNED_PREFIX, type CondemnedMark, loadCondemned } from './prune-marks';
import { mapLimit, type Repository } from './repository';

/** Repack a pack when more than this share of its bytes is unreferenced. */
export const REPACK_UNUSED_RATIO = 0.2;
const PACK_NAME = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/;

export interface PruneOptions {
  dryRun?: boolean;
  /** Condemned packs are deleted no sooner than this after they were marked. */
  graceMs?: number;
  clock?: Clock;
  onInfo?: (line: string) => void;
  /** Fault-injection seam for tests: runs between the mark and the sweep. */
  beforeSweep?: () => Promise<void>;
}

export interface PruneReport {
  marked: { packs: number; bytes: number };
  repacked: { packs: number; blobs: number };
  deleted: { packs: number; bytes: number };
  /** Condemned packs still kept: grace not over, or a running backup has not seen the mark. */
  waiting: number;
  /** Condemned packs that a snapshot written after the mark uses again: kept. */
  rescued: number;
  /** Temp files that interrupted writes left (removed only while no backup runs). */
  tempFiles: number;
}

/** A temp file untouched this long belongs to no running write (a backup's open pack grows by the second). */
export const TEMP_FILE_MAX_AGE_MS = 60 * 60 * 1000;

interface IndexState {
  byIndex: Map<IndexId, IndexedPack[]>;
  /** Every location of each blob among indexed packs. */
  locations: Map<BlobId, PackId[]>;
  packs: Map<PackId, IndexedPack>;
}

/**
 * Two-phase prune (docs/locking.md). Phase one (mark) writes a `condemned/` object listing packs no
 * snapshot needs (after repacking partly used ones); phase two (sweep) deletes the packs of marks older
 * than the grace period once every running backup has seen the mark, rewriting the index first so
 * that the index never names a deleted pack. Backups run concurrently; prunes exclude each other.
 */
export async function pruneRepository(repo: Repository, opts: PruneOptions = {}): Promise<PruneReport> {
  const clock = opts.clock ?? systemClock;
  const info = opts.onInfo ?? (() => undefined);
  const report: PruneReport = {
    marked: { packs: 0, bytes: 0 },
    repacked: { packs: 0, blobs: 0 },
    deleted: { packs: 0, bytes: 0 },
    waiting: 0,
    rescued: 0,
    tempFiles: 0,
  };
  const lock = opts.dryRun ? undefined : await Lock.acquire(repo, 'exclusive', { clock });
  try {
    const stored = await listStoredPacks(repo);
    let state = await loadIndexState(repo);
    const referenced = await referencedBlobs(repo);
    const condemned = await loadCondemned(repo);

    // Phase one: mark.
    const liveBackups = (await listLocks(repo, clock)).filter((l) => !l.stale && l.lock.kind === 'backup');
    const unused: PackId[] = [];
    const repack: IndexedPack[] = [];
    for (const [id, pack] of state.packs) {
      if (condemned.packs.has(id)) continue;
      const usedBytes = pack.entries.filter((e) => referenced.has(e.id)).reduce((n, e) => n + e.length, 0);
      const totalBytes = pack.entries.reduce((n, e) => n + e.length, 0);
      if (usedBytes === 0) unused.push(id);
      else if (totalBytes - usedBytes > totalBytes * REPACK_UNUSED_RATIO) repack.push(pack);
    }
    // Packs in no index come from an interrupted backup, or from one still running: only when no
    // backup runs can we tell them apart.
    const unindexed =
      liveBackups.length === 0
        ? [...stored.keys()].filter((p) => !state.packs.has(p) && !condemned.packs.has(p))
        : [];
    if (liveBackups.length > 0)
      info(`${liveBackups.length} backup(s) running: packs in no index are left alone this time`);
    else if (!opts.dryRun && repo.storage.sweepTemp) {
      // Real time, not the injected clock: file times are the file system's.
      report.tempFiles = await repo.storage.sweepTemp(new Date(Date.now() - TEMP_FILE_MAX_AGE_MS));
      if (report.tempFiles > 0) info(`removed ${report.tempFiles} temp file(s) that interrupted writes left`);
    }
    if (!opts.dryRun && repack.length > 0) {
      report.repacked = await repackBlobs(repo, repack, referenced);
      state = await loadIndexState(repo);
    }
    const toMark = [...unused, ...repack.map((p) => p.id)];
    report.marked.packs = toMark.length + unindexed.length;
    report.marked.bytes = [...toMark, ...unindexed].reduce((n, p) => n + (stored.get(p) ?? 0), 0);
    if (report.marked.packs > 0) {
      info(`marking ${report.marked.packs} pack(s) no snapshot needs (${report.marked.bytes} bytes)`);
      if (!opts.dryRun) {
        const mark: CondemnedMark = {
          version: 1,
          time: clock.now().toISOString(),
          packs: toMark,
          unindexedPacks: unindexed,
          indexes: [],
        };
        const { id } = await repo.saveJson(CONDEMNED_PREFIX, mark, AAD.condemned);
        condemned.marks.push({ id, mark });
      }
    }
    if (opts.dryRun) return report;

    await opts.beforeSweep?.();
    // Phase two: sweep.
    const locks = (await listLocks(repo, clock)).filter((l) => !l.stale && l.lock.kind === 'backup');
    const graceMs = opts.graceMs ?? 0;
    const doomed = new Set<PackId>();
    const sweptMarks: string[] = [];
    const stillCondemned = new Set<PackId>();
    for (const { id, mark } of condemned.marks) {
      const ready = clock.now().getTime() - Date.parse(mark.time) >= graceMs;
      const blockers = locks.filter((l) => !l.lock.sawMarks.includes(id));
      if (!ready || blockers.length > 0) {
        report.waiting += mark.packs.length + mark.unindexedPacks.length;
        for (const p of [...mark.packs, ...mark.unindexedPacks]) stillCondemned.add(p);
        if (blockers.length > 0)
          info(
            `mark ${id.slice(0, 8)} waits for ${blockers.length} running backup(s) that started before it`,
          );
        continue;
      }
      sweptMarks.push(id);
      for (const p of [...mark.packs, ...mark.unindexedPacks]) doomed.add(p);
    }
    // The rescue check must see every snapshot and index written before the locks were listed: a
    // backup that finished just before (its lock gone) may use condemned packs. So both are read
    // again here, after the lock listing, never reused from phase one.
    let referencedNow = referenced;
    if (doomed.size > 0) {
      state = await loadIndexState(repo);
      referencedNow = await referencedBlobs(repo);
    }
    // A doomed pack is rescued when it holds a referenced blob that no surviving pack holds.
    for (const pack of [...doomed]) {
      const entries = state.packs.get(pack)?.entries ?? [];
      const needed = entries.some(
        (e) =>
          referencedNow.has(e.id) &&
          !(state.locations.get(e.id) ?? []).some(
            (p) => p !== pack && !doomed.has(p) && !stillCondemned.has(p),
          ),
      );
      if (needed) {
        doomed.delete(pack);
        report.rescued++;
      }
    }
    if (doomed.size > 0) {
      await rewriteIndexWithout(repo, state, doomed);
      await mapLimit([...doomed], 8, async (pack) => {
        await repo.storage.delete(packObjectName(pack));
        report.deleted.packs++;
        report.deleted.bytes += stored.get(pack) ?? 0;
      });
      info(`deleted ${report.deleted.packs} pack(s), freed ${report.deleted.bytes} bytes`);
    }
    for (const id of sweptMarks) await repo.storage.delete(CONDEMNED_PREFIX + id);
    return report;
  } finally {
    await lock?.release();
  }
}

/** Blobs reachable from any snapshot. Refuses to go on when a tree cannot be read: pruning a damaged repository could delete the last copy. */
async function referencedBlobs(repo: Repository): Promise<Set<BlobId>> {
  await repo.loadIndex();
  const out = new Set<BlobId>();
  const visit = async (tree: BlobId): Promise<void> => {
    if (out.has(tree)) return;
    out.add(tree);
    let nodes: Awaited<ReturnType<Repository['loadTree']>>['nodes'];
    try {
      nodes = (await repo.loadTree(tree)).nodes;
    } catch (err) {
      throw new RepositoryError(
        `refusing to prune: tree ${tree} cannot be read (${(err as Error).message}); run \`zapas check\``,
        { cause: err },
      );
    }
    for (const node of nodes) {
      for (const blob of node.content ?? []) out.add(blob);
      if (node.subtree) await visit(node.subtree);
    }
  };
  for (const s of await repo.listSnapshots()) await visit(s.snapshot.tree);
  return out;
}

async function loadIndexState(repo: Repository): Promise<IndexState> {
  const names: string[] = [];
  for await (const o of repo.storage.list(INDEX_PREFIX)) names.push(o.name);
  const byIndex = new Map<IndexId, IndexedPack[]>();
  const superseded = new Set<IndexId>();
  await mapLimit(names, 8, async (name) => {
    const id = name.slice(INDEX_PREFIX.length) as IndexId;
    const decoded = await repo.readIndexObject(id);
    if (!decoded) return;
    byIndex.set(id, decoded.packs);
    for (const s of decoded.supersedes) superseded.add(s);
  });
  for (const s of superseded) byIndex.delete(s);
  const locations = new Map<BlobId, PackId[]>();
  const packs = new Map<PackId, IndexedPack>();
  for (const list of byIndex.values()) {
    for (const pack of list) {
      packs.set(pack.id, pack);
      for (const e of pack.entries) locations.set(e.id, [...(locations.get(e.id) ?? []), pack.id]);
    }
  }
  return { byIndex, locations, packs };
}

async function listStoredPacks(repo: Repository): Promise<Map<PackId, number>> {
  const out = new Map<PackId, number>();
  for await (const o of repo.storage.list('data/')) {
    const m = PACK_NAME.exec(o.name);
    if (m) out.set(m[1] as PackId, o.size);
  }
  return out;
}

/** Copies the referenced blobs of partly used packs into new packs (indexed before anything is condemned). */
async function repackBlobs(
  repo: Repository,
  packs: readonly IndexedPack[],
  referenced: Set<BlobId>,
): Promise<{ packs: number; blobs: number }> {
  const wanted: { id: BlobId; type: BlobType; data: Buffer }[] = [];
  for (const pack of packs) {
    for (const e of pack.entries) {
      if (!referenced.has(e.id)) continue;
      const sealed = await repo.storage.get(packObjectName(pack.id), { offset: e.offset, length: e.length });
      wanted.push({
        id: e.id,
        type: e.type,
        data: await repo.openBlob(e.id, sealed, e, packObjectName(pack.id)),
      });
    }
  }
  for (const pack of packs) repo.index.dropPack(pack.id);
  const byClass = new Map<string, BlobWriter>();
  for (const pack of packs)
    if (!byClass.has(pack.dataClass)) byClass.set(pack.dataClass, new BlobWriter(repo, pack.dataClass));
  const classOf = new Map<BlobId, string>();
  for (const pack of packs) for (const e of pack.entries) classOf.set(e.id, pack.dataClass);
  try {
    for (const w of wanted)
      await byClass
        .get(classOf.get(w.id)!)!
        .save(w.type === BlobType.Tree ? BlobType.Tree : BlobType.Data, w.data);
    for (const writer of byClass.values()) await writer.flush();
  } catch (err) {
    await Promise.all([...byClass.values()].map((writer) => writer.abort()));
    throw err;
  }
  return { packs: packs.length, blobs: wanted.length };
}

/** Writes one index object holding every pack of the affected index objects except `doomed`, then removes those objects. */
async function rewriteIndexWithout(
  repo: Repository,
  state: IndexState,
  doomed: ReadonlySet<PackId>,
): Promise<void> {
  const affected = [...state.byIndex].filter(([, packs]) => packs.some((p) => doomed.has(p.id)));
  if (affected.length === 0) return;
  const keep = affected.flatMap(([, packs]) => packs.filter((p) => !doomed.has(p.id)));
  const ids = affected.map(([id]) => id);
  if (keep.length > 0) await repo.saveJson(INDEX_PREFIX, encodeIndex(keep, ids), AAD.index);
  for (const id of ids) {
    try {
      await repo.storage.delete(INDEX_PREFIX + id);
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError || err instanceof MissingObjectError)) throw err;
    }
  }
}
