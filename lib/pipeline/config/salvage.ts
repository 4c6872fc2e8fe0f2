/**
 * What of a configuration that failed its shape can still be checked across fields, so that one run of
 * `zapas config check` reports every problem of a file: the shape problems (reported from zod) and the
 * cross-field ones (references, crons, the law) of everything that is well-formed.
 */
import type { z } from 'zod';
import { configSchema, type ZapasConfig } from './schema';

/** Rounds of removing what zod complains of; each shortens what is left, so few are ever needed. */
const SALVAGE_ROUNDS = 16;

type Path = readonly PropertyKey[];

/**
 * The configuration with every ill-formed part taken out: a bad field goes (a field with a default
 * takes its default); a part still missing something required goes with its parent (a source without a
 * valid `dataClass` is left out whole); an array with a bad element goes whole (its other elements'
 * positions would no longer match the file). Undefined when nothing checkable is left.
 */
export function salvageConfig(raw: unknown): ZapasConfig | undefined {
  if (!isRecord(raw)) return undefined;
  const value: Record<string, unknown> = structuredClone(raw);
  // Their own problems are reported already; with them the rest can still be checked.
  value.version = 1;
  for (const k of ['repositories', 'sources']) if (!isRecord(value[k])) value[k] = {};
  for (let round = 0; round < SALVAGE_ROUNDS; round++) {
    const parsed = configSchema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues)
      for (const path of pathsOf(issue)) if (!removeAt(value, path)) return undefined;
  }
  return undefined;
}

/** The names the file gives its repositories and sources, well-formed or not. */
export function namesIn(raw: unknown): { repositories: ReadonlySet<string>; sources: ReadonlySet<string> } {
  const keys = (k: string) =>
    new Set(isRecord(raw) && isRecord(raw[k]) ? Object.keys(raw[k] as Record<string, unknown>) : []);
  return { repositories: keys('repositories'), sources: keys('sources') };
}

function pathsOf(issue: z.core.$ZodIssue): Path[] {
  if (issue.code === 'unrecognized_keys') return issue.keys.map((k) => [...issue.path, k]);
  return [issue.path];
}

/**
 * Removes the value at `path`, or what holds it: the first array on the way, or, when nothing is at
 * `path` (a required field is missing), its parent. False when that would be the whole file.
 */
function removeAt(root: Record<string, unknown>, path: Path): boolean {
  let at: unknown = root;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    if (!isRecord(at) || !Object.hasOwn(at, key)) return removeAt(root, path.slice(0, i));
    const next = (at as Record<PropertyKey, unknown>)[key];
    if (Array.isArray(next) || i === path.length - 1) {
      if (i === 0 && (key === 'repositories' || key === 'sources')) (at as Record<string, unknown>)[key] = {};
      else delete (at as Record<PropertyKey, unknown>)[key];
      return true;
    }
    at = next;
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
