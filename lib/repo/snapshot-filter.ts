import type { Snapshot } from './snapshot';

/**
 * Which snapshots a verb considers: what `latest` means in a repository that many sources share, and
 * what `snapshots` and `forget` list. Every given field must match; within a field, any value does
 * (restic's rules): a tag entry `a,b` needs both tags; paths must all be among the snapshot's paths.
 */
export interface SnapshotFilter {
  sources?: readonly string[];
  tags?: readonly string[];
  hosts?: readonly string[];
  /** Absolute paths. */
  paths?: readonly string[];
}

/** True when the filter leaves every snapshot in. */
export function isEmptyFilter(f: SnapshotFilter): boolean {
  return !f.sources?.length && !f.tags?.length && !f.hosts?.length && !f.paths?.length;
}

/** True when `s` passes every field of the filter. */
export function matchesFilter(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.sources?.length && !f.sources.includes(s.source)) return false;
  if (f.hosts?.length && !f.hosts.includes(s.hostname)) return false;
  if (f.paths?.length && !f.paths.every((p) => s.paths.includes(p))) return false;
  if (f.tags?.length) {
    const any = f.tags.some((entry) =>
      entry
        .split(',')
        .filter((t) => t !== '')
        .every((t) => s.tags.includes(t)),
    );
    if (!any) return false;
  }
  return true;
}

/** The filter in words, for errors: `source "a" or "b", tag "nightly", path "/srv"`. */
export function describeFilter(f: SnapshotFilter): string {
  const part = (what: string, values: readonly string[] | undefined, join: string) =>
    values?.length ? [`${what} ${values.map((v) => JSON.stringify(v)).join(join)}`] : [];
  return [
    ...part('source', f.sources, ' or '),
    ...part('tag', f.tags, ' or '),
    ...part('host', f.hosts, ' or '),
    ...part('path', f.paths, ' and '),
  ].join(', ');
}
