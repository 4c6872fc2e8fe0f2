import { randomInt } from 'node:crypto';
import type { PackId } from './ids';

/**
 * Which packs `check` reads back, as restic's --read-data-subset chooses them:
 * - `all`: every pack;
 * - `percent`: a random share of the packs (at least one);
 * - `group`: the n-th of `of` fixed groups (1-based), a pack's group set by its id, so running 1/of to
 *   of/of (one a day, say) reads every pack exactly once;
 * - `bytes`: random packs adding up to at most that many bytes (at least one pack).
 */
export type ReadDataSubset =
  | { readonly kind: 'all' }
  | { readonly kind: 'percent'; readonly percent: number }
  | { readonly kind: 'group'; readonly n: number; readonly of: number }
  | { readonly kind: 'bytes'; readonly bytes: number };

/** A --read-data-subset text that is none of the forms. */
export class ReadDataSubsetError extends Error {
  override readonly name = 'ReadDataSubsetError';
}

/** Most groups `n/t` may split the packs into: more would leave most groups empty in any real repository. */
export const MAX_SUBSET_GROUPS = 1_000_000;
const SIZE_UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
const FORMS = 'n/t (e.g. 1/5), a percentage (e.g. 10%) or a size (e.g. 500M, 2G)';

/**
 * Parses `n/t`, `x%` (decimals allowed) or a size with a binary unit (`500M`, `2G`, `1.5T`, `700K`,
 * `4096B`; an `iB` or `B` after the unit is allowed). A bare number is refused rather than guessed: it
 * was a percentage in earlier versions and is bytes in restic.
 */
export function parseReadDataSubset(text: string): ReadDataSubset {
  const t = text.trim();
  const group = /^(\d+)\/(\d+)$/.exec(t);
  if (group) {
    const [n, of] = [Number(group[1]), Number(group[2])];
    if (!(of >= 1 && of <= MAX_SUBSET_GROUPS && n >= 1 && n <= of))
      throw new ReadDataSubsetError(
        `"${text}": n/t needs 1 <= n <= t <= ${MAX_SUBSET_GROUPS} (the n-th of t groups, counted from 1)`,
      );
    return { kind: 'group', n, of };
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(t);
  if (pct) {
    const percent = Number(pct[1]);
    if (!(percent > 0 && percent <= 100))
      throw new ReadDataSubsetError(`"${text}": a percentage must be above 0 and at most 100`);
    return percent === 100 ? { kind: 'all' } : { kind: 'percent', percent };
  }
  const size = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)$/i.exec(t);
  if (size) {
    const bytes = Math.floor(Number(size[1]) * SIZE_UNITS[(size[2] ?? '').toUpperCase()]!);
    if (!(bytes >= 1 && Number.isSafeInteger(bytes)))
      throw new ReadDataSubsetError(`"${text}": a size must be at least 1 byte`);
    return { kind: 'bytes', bytes };
  }
  if (/^\d+(?:\.\d+)?$/.test(t))
    throw new ReadDataSubsetError(
      `"${text}" has no unit: write ${t}% for a share of the packs or ${t}M for a size`,
    );
  throw new ReadDataSubsetError(`"${text}" is not ${FORMS}`);
}

/**
 * The packs of `packs` (id → stored size in bytes) that `subset` picks. `random(n)` is an integer in
 * [0, n): injected so a test can replay a choice.
 */
export function choosePacks(
  packs: ReadonlyMap<PackId, number>,
  subset: ReadDataSubset,
  random: (n: number) => number = randomInt,
): PackId[] {
  const all = [...packs.keys()];
  switch (subset.kind) {
    case 'all':
      return all;
    case 'group':
      return all.filter((id) => groupOf(id, subset.of) === subset.n);
    case 'percent':
      return all.length === 0
        ? []
        : shuffled(all, random).slice(0, Math.max(1, Math.ceil((all.length * subset.percent) / 100)));
    case 'bytes': {
      const chosen: PackId[] = [];
      let total = 0;
      for (const id of shuffled(all, random)) {
        const size = packs.get(id)!;
        if (chosen.length > 0 && total + size > subset.bytes) continue;
        chosen.push(id);
        total += size;
      }
      return chosen;
    }
  }
}

/**
 * The 1-based group of `of` a pack belongs to: its id's first 32 bits modulo `of`. Pack ids are hashes,
 * so the groups are even in size, and a pack never changes group.
 */
export function groupOf(id: PackId, of: number): number {
  return (Number.parseInt(id.slice(0, 8), 16) % of) + 1;
}

function shuffled<T>(items: readonly T[], random: (n: number) => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = random(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}
