import { ObjectNotFoundError } from '../storage/errors';
import { AAD } from './crypto';
import { MissingObjectError } from './errors';
import type { IndexId, PackId } from './ids';
import type { Repository } from './repository';

/** Folder of prune marks: phase one of two-phase deletion. */
export const CONDEMNED_PREFIX = 'condemned/';

/** A prune mark: packs that no snapshot needs, to be deleted by a later sweep. */
export interface CondemnedMark {
  version: 1;
  time: string;
  /** Packs listed in the index whose every blob is unreferenced (or copied elsewhere by a repack). */
  packs: PackId[];
  /** Packs found in storage but in no index (left by an interrupted backup). */
  unindexedPacks: PackId[];
  /** Index objects superseded by the index written with this mark (repack). */
  indexes: IndexId[];
}

export interface CondemnedSet {
  markIds: string[];
  marks: { id: string; mark: CondemnedMark }[];
  /** Every condemned pack, indexed or not. */
  packs: Set<PackId>;
}

/** Loads every prune mark. A mark removed while listing is skipped. */
export async function loadCondemned(repo: Repository): Promise<CondemnedSet> {
  const marks: { id: string; mark: CondemnedMark }[] = [];
  for await (const info of repo.storage.list(CONDEMNED_PREFIX)) {
    try {
      const mark = await repo.loadJson<CondemnedMark>(info.name, AAD.condemned);
      marks.push({ id: info.name.slice(CONDEMNED_PREFIX.length), mark });
    } catch (err) {
      if (err instanceof MissingObjectError || err instanceof ObjectNotFoundError) continue;
      throw err;
    }
  }
  marks.sort((a, b) => a.mark.time.localeCompare(b.mark.time));
  const packs = new Set<PackId>();
  for (const { mark } of marks) for (const p of [...mark.packs, ...mark.unindexedPacks]) packs.add(p);
  return { markIds: marks.map((m) => m.id), marks, packs };
}
