/** Builders and fast-check arbitraries shared by the retention tests. */
import fc from 'fast-check';
import type { Duration } from '../../lib/policy/duration';
import type { RetentionPolicy, RetentionResult, SnapshotForRetention } from '../../lib/policy/retention';

/** The group snapshots get when a test does not care. */
export const DEFAULT_GROUP = 'game-saves';

/** A snapshot taken at `iso` (an ISO 8601 instant). */
export function snap(
  id: string,
  iso: string,
  extra: { tags?: readonly string[]; group?: string } = {},
): SnapshotForRetention {
  return { id, time: new Date(iso), tags: extra.tags ?? [], group: extra.group ?? DEFAULT_GROUP };
}

/** Ids of the kept snapshots, in result order. */
export function keptIds(result: RetentionResult): string[] {
  return result.keep.map((k) => k.snapshot.id);
}

/** Ids of the removed snapshots, in result order. */
export function removedIds(result: RetentionResult): string[] {
  return result.remove.map((s) => s.id);
}

/** The reasons recorded for one kept snapshot, or undefined when it was removed. */
export function reasonsOf(result: RetentionResult, id: string): readonly string[] | undefined {
  return result.keep.find((k) => k.snapshot.id === id)?.reasons;
}

const WINDOW_START_MS = Date.parse('2019-06-01T00:00:00Z');
const WINDOW_END_MS = Date.parse('2025-06-01T00:00:00Z');
/** Where generated snapshots cluster, so that several share an hour, a day, a week. */
const CLUSTER_START_MS = Date.parse('2024-12-20T00:00:00Z');
const MS_PER_DAY = 86_400_000;
const CLUSTER_SPAN_DAYS = 20;
const CLUSTER_SPAN_MS = CLUSTER_SPAN_DAYS * MS_PER_DAY;

/** A `now` for property tests: after every generated snapshot, or in the middle of them. */
export const NOW = new Date('2025-01-05T12:00:00Z');

/** Moscow has been UTC+3 all year, without daylight saving, since 26 October 2014. */
export const MOSCOW_OFFSET_MINUTES = 180;
/** India has been UTC+05:30 all year since 1945. */
export const KOLKATA_OFFSET_MINUTES = 330;

/** Tags generated snapshots may carry and policies may ask for. */
export const TAG_POOL = ['daily-cron', 'manual', 'pre-upgrade', 'release'] as const;

/** Groups generated snapshots are spread over. */
export const GROUP_POOL = ['game-saves', 'postgres', 'player-uploads'] as const;

/** Zones with daylight saving, odd offsets (+05:30, +12:45), and none. */
export const ZONE_POOL = [
  'UTC',
  'Europe/Moscow',
  'America/New_York',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'Australia/Lord_Howe',
] as const;

const MAX_SNAPSHOTS = 40;
const MAX_COUNT = 6;
const MAX_DURATION_PART = 40;

/** An instant: either anywhere in six years, or inside a 20-day cluster where buckets collide. */
export const instantArb: fc.Arbitrary<Date> = fc.oneof(
  fc.integer({ min: WINDOW_START_MS, max: WINDOW_END_MS }).map((ms) => new Date(ms)),
  fc.integer({ min: CLUSTER_START_MS, max: CLUSTER_START_MS + CLUSTER_SPAN_MS }).map((ms) => new Date(ms)),
);

/** Snapshots with unique ids over a few groups; some times are exactly equal to exercise the tie-break. */
export const snapshotsArb: fc.Arbitrary<SnapshotForRetention[]> = fc
  .uniqueArray(
    fc.record({
      id: fc.stringMatching(/^[0-9a-f]{8}$/),
      time: fc.oneof({ weight: 5, arbitrary: instantArb }, { weight: 1, arbitrary: fc.constant(NOW) }),
      tags: fc.subarray([...TAG_POOL]),
      group: fc.constantFrom(...GROUP_POOL),
    }),
    { selector: (s) => s.id, maxLength: MAX_SNAPSHOTS },
  )
  .map((list) => list.map((s) => ({ ...s, tags: s.tags as readonly string[] })));

/** A whole-number duration of a few units. */
export const durationArb: fc.Arbitrary<Duration> = fc.record({
  years: fc.nat(2),
  months: fc.nat(MAX_DURATION_PART),
  days: fc.nat(MAX_DURATION_PART),
  hours: fc.nat(MAX_DURATION_PART),
});

const countArb = fc.nat(MAX_COUNT);

/** Any policy, possibly with no rule at all. */
export const anyPolicyArb: fc.Arbitrary<RetentionPolicy> = fc.record(
  {
    last: countArb,
    hourly: countArb,
    daily: countArb,
    weekly: countArb,
    monthly: countArb,
    yearly: countArb,
    within: durationArb,
    tags: fc.subarray([...TAG_POOL]),
  },
  { requiredKeys: [] },
);

/** True when the policy has a rule, i.e. applyRetention accepts it. */
export function hasRule(p: RetentionPolicy): boolean {
  const counts = [p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly];
  const within = p.within;
  const withinSet = within !== undefined && within.years + within.months + within.days + within.hours > 0;
  return counts.some((c) => (c ?? 0) > 0) || withinSet || (p.tags ?? []).length > 0;
}

/** A policy applyRetention accepts. */
export const policyArb: fc.Arbitrary<RetentionPolicy> = anyPolicyArb.filter(hasRule);
