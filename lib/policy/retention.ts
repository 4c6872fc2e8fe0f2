/**
 * The retention ("forget") policy: which snapshots to keep, as restic's `forget --keep-*` decides it.
 * Pure functions: the clock (`now`) and the time zone of the calendar buckets are passed in, so a policy
 * can be tested at any date and in any zone.
 */
import { type CalendarBuckets, calendarBuckets, DEFAULT_TIME_ZONE, validateTimeZone } from './calendar';
import {
  type Duration,
  formatDuration,
  isZeroDuration,
  subtractDuration,
  validateDuration,
} from './duration';
import { PolicyError } from './errors';

/** Which snapshots of each group to keep; a snapshot matching any rule is kept, all others removed. */
export interface RetentionPolicy {
  /** Keep the N newest snapshots. */
  readonly last?: number;
  /** Keep the newest snapshot of each of the N newest calendar hours that have snapshots. */
  readonly hourly?: number;
  /** Same per calendar day. */
  readonly daily?: number;
  /** Same per ISO 8601 week (Monday to Sunday). */
  readonly weekly?: number;
  /** Same per calendar month. */
  readonly monthly?: number;
  /** Same per calendar year. */
  readonly yearly?: number;
  /** Keep every snapshot taken after `now` minus this duration. */
  readonly within?: Duration;
  /** Keep every snapshot carrying at least one of these tags. */
  readonly tags?: readonly string[];
}

/** What retention needs to know about a snapshot. `group` is the source name; ids are unique. */
export interface SnapshotForRetention {
  readonly id: string;
  readonly time: Date;
  readonly tags: readonly string[];
  readonly group: string;
}

/** A snapshot the policy keeps, with the name of every rule that keeps it (e.g. `daily snapshot`). */
export interface KeptSnapshot {
  readonly snapshot: SnapshotForRetention;
  readonly reasons: readonly string[];
}

/** The verdict on every snapshot: groups in code-unit order of their name, newest first within a group. */
export interface RetentionResult {
  readonly keep: readonly KeptSnapshot[];
  readonly remove: readonly SnapshotForRetention[];
}

/** The injected clock and calendar for applyRetention. */
export interface RetentionOptions {
  /** The instant `within` counts back from. */
  readonly now: Date;
  /** IANA time zone whose wall clock defines hours, days, weeks, months and years; default UTC. */
  readonly timeZone?: string;
}

/** The message of the refusal to apply a policy with no rule, which would remove every snapshot. */
export const EMPTY_POLICY_MESSAGE = 'refusing to remove every snapshot: give at least one --keep-* rule';

type CountRuleName = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

interface CountRule {
  readonly name: CountRuleName;
  readonly flag: string;
  readonly reason: string;
  /** The calendar bucket of a snapshot, or undefined when every snapshot is its own bucket (`last`). */
  readonly bucket?: keyof CalendarBuckets;
}

/** In restic's order, which is also the order of the reasons on a kept snapshot. */
const COUNT_RULES: readonly CountRule[] = [
  { name: 'last', flag: '--keep-last', reason: 'last snapshot' },
  { name: 'hourly', flag: '--keep-hourly', reason: 'hourly snapshot', bucket: 'hour' },
  { name: 'daily', flag: '--keep-daily', reason: 'daily snapshot', bucket: 'day' },
  { name: 'weekly', flag: '--keep-weekly', reason: 'weekly snapshot', bucket: 'week' },
  { name: 'monthly', flag: '--keep-monthly', reason: 'monthly snapshot', bucket: 'month' },
  { name: 'yearly', flag: '--keep-yearly', reason: 'yearly snapshot', bucket: 'year' },
];

/**
 * Throws PolicyError when the policy cannot be applied: a count that is not a whole number ≥ 0, a bad
 * `within` duration, an empty tag, or no rule at all (every count 0 or absent, `within` absent or zero,
 * no tags) — applying that would remove every snapshot, so it is refused rather than obeyed.
 */
export function validateRetentionPolicy(policy: RetentionPolicy): void {
  let ruleCount = 0;
  for (const rule of COUNT_RULES) {
    const count = policy[rule.name];
    if (count === undefined) continue;
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new PolicyError(`${rule.flag} must be a whole number ≥ 0, got ${count}`);
    }
    if (count > 0) ruleCount++;
  }
  if (policy.within !== undefined) {
    try {
      validateDuration(policy.within);
    } catch (cause) {
      throw new PolicyError(`--keep-within: ${(cause as Error).message}`, { cause });
    }
    if (!isZeroDuration(policy.within)) ruleCount++;
  }
  for (const tag of policy.tags ?? []) {
    // An empty tag matches no snapshot; accepting it would make a tag-only policy remove everything.
    if (tag.trim() === '') throw new PolicyError(`--keep-tag must name a tag, got ${JSON.stringify(tag)}`);
    ruleCount++;
  }
  if (ruleCount === 0) throw new PolicyError(EMPTY_POLICY_MESSAGE);
}

/** Plain UTF-16 code-unit order: unlike localeCompare it is the same on every machine. */
function byCodeUnits(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/** Newest first; equal times by id, so the result never depends on input order. */
function newestFirst(a: SnapshotForRetention, b: SnapshotForRetention): number {
  return b.time.getTime() - a.time.getTime() || byCodeUnits(a.id, b.id);
}

/** Applies the policy to one group, already sorted newest first. */
function applyToGroup(
  sorted: readonly SnapshotForRetention[],
  policy: RetentionPolicy,
  cutoff: Date | undefined,
  timeZone: string,
): RetentionResult {
  const counters = COUNT_RULES.flatMap((rule) => {
    const count = policy[rule.name] ?? 0;
    return count > 0 ? [{ rule, remaining: count, seen: new Set<string>() }] : [];
  });
  const needsCalendar = counters.some(({ rule }) => rule.bucket !== undefined);
  const tags = [...new Set(policy.tags ?? [])];
  const withinReason = policy.within === undefined ? '' : `within ${formatDuration(policy.within)}`;
  const keep: KeptSnapshot[] = [];
  const remove: SnapshotForRetention[] = [];
  for (const snapshot of sorted) {
    const reasons: string[] = [];
    for (const tag of tags) {
      if (snapshot.tags.includes(tag)) reasons.push(`has tag ${tag}`);
    }
    if (cutoff !== undefined && snapshot.time.getTime() > cutoff.getTime()) reasons.push(withinReason);
    const buckets = needsCalendar ? calendarBuckets(snapshot.time, timeZone) : undefined;
    for (const counter of counters) {
      if (counter.remaining === 0) continue;
      const { bucket } = counter.rule;
      if (bucket !== undefined && buckets !== undefined) {
        // Snapshots arrive newest first, so the first one seen in a bucket is that bucket's newest.
        const key = buckets[bucket];
        if (counter.seen.has(key)) continue;
        counter.seen.add(key);
      }
      counter.remaining--;
      reasons.push(counter.rule.reason);
    }
    if (reasons.length > 0) keep.push({ snapshot, reasons });
    else remove.push(snapshot);
  }
  return { keep, remove };
}

/**
 * Decides, per group, which snapshots the policy keeps and which it removes; groups never affect each
 * other and the result covers every input snapshot exactly once. Throws PolicyError for an invalid or
 * empty policy, an unknown time zone, or a snapshot whose time is not a valid date.
 */
export function applyRetention(
  snapshots: readonly SnapshotForRetention[],
  policy: RetentionPolicy,
  opts: RetentionOptions,
): RetentionResult {
  validateRetentionPolicy(policy);
  const timeZone = opts.timeZone ?? DEFAULT_TIME_ZONE;
  validateTimeZone(timeZone);
  if (Number.isNaN(opts.now.getTime())) throw new PolicyError('the current time is not a valid date');
  // As restic does, `within` counts back from the group's newest snapshot, not from now: if backups
  // stop, a within-only policy must not expire the whole history while nobody is looking.
  const cutoffOf = (newest: SnapshotForRetention | undefined) =>
    policy.within === undefined || isZeroDuration(policy.within) || newest === undefined
      ? undefined
      : subtractDuration(newest.time, policy.within);

  const groups = new Map<string, SnapshotForRetention[]>();
  for (const snapshot of snapshots) {
    if (Number.isNaN(snapshot.time.getTime())) {
      throw new PolicyError(`snapshot ${snapshot.id} has an invalid time; refusing to decide its retention`);
    }
    const members = groups.get(snapshot.group);
    if (members === undefined) groups.set(snapshot.group, [snapshot]);
    else members.push(snapshot);
  }

  const keep: KeptSnapshot[] = [];
  const remove: SnapshotForRetention[] = [];
  for (const group of [...groups.keys()].sort(byCodeUnits)) {
    const sorted = [...(groups.get(group) ?? [])].sort(newestFirst);
    const result = applyToGroup(sorted, policy, cutoffOf(sorted[0]), timeZone);
    keep.push(...result.keep);
    remove.push(...result.remove);
  }
  return { keep, remove };
}
