import fc from 'fast-check';
import { isZeroDuration, subtractDuration } from '../../lib/policy/duration';
import {
  applyRetention,
  type RetentionPolicy,
  type RetentionResult,
  type SnapshotForRetention,
} from '../../lib/policy/retention';
import {
  anyPolicyArb,
  durationArb,
  GROUP_POOL,
  instantArb,
  KOLKATA_OFFSET_MINUTES,
  MOSCOW_OFFSET_MINUTES,
  NOW,
  policyArb,
  snapshotsArb,
  TAG_POOL,
  ZONE_POOL,
} from './fixtures';

const zoneArb = fc.constantFrom(...ZONE_POOL);
const nowArb = fc.oneof(fc.constant(NOW), instantArb);
const MAX_COUNT = 6;

function byId(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function sortedIds(list: readonly SnapshotForRetention[]): string[] {
  return list.map((s) => s.id).sort(byId);
}

function removedIdSet(result: RetentionResult): Set<string> {
  return new Set(result.remove.map((s) => s.id));
}

/** Newest first, equal times by id: the order the policy promises to use. */
function newest(list: readonly SnapshotForRetention[]): SnapshotForRetention | undefined {
  return [...list].sort((a, b) => b.time.getTime() - a.time.getTime() || byId(a.id, b.id))[0];
}

/** A policy at least as generous as both: counts at their maximum, tags united, within kept. */
function widen(base: RetentionPolicy, extra: RetentionPolicy): RetentionPolicy {
  const max = (a?: number, b?: number) => Math.max(a ?? 0, b ?? 0);
  return {
    last: max(base.last, extra.last),
    hourly: max(base.hourly, extra.hourly),
    daily: max(base.daily, extra.daily),
    weekly: max(base.weekly, extra.weekly),
    monthly: max(base.monthly, extra.monthly),
    yearly: max(base.yearly, extra.yearly),
    within: base.within ?? extra.within,
    tags: [...(base.tags ?? []), ...(extra.tags ?? [])],
  };
}

describe('applyRetention properties', () => {
  it('splits the input into keep and remove, disjoint and complete, every keep with a reason', () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, zoneArb, nowArb, (snapshots, policy, timeZone, now) => {
        const result = applyRetention(snapshots, policy, { now, timeZone });
        const kept = result.keep.map((k) => k.snapshot);
        expect(sortedIds([...kept, ...result.remove])).toEqual(sortedIds(snapshots));
        const keptSet = new Set(kept.map((s) => s.id));
        expect(result.remove.some((s) => keptSet.has(s.id))).toBe(false);
        expect(result.keep.every((k) => k.reasons.length > 0)).toBe(true);
      }),
    );
  });

  it('keeps the newest snapshot of every group when any count rule is at least 1', () => {
    const countedPolicyArb = fc
      .tuple(
        policyArb,
        fc.constantFrom('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'),
        fc.integer({ min: 1, max: MAX_COUNT }),
      )
      .map(([policy, rule, count]): RetentionPolicy => ({ ...policy, [rule]: count }));
    fc.assert(
      fc.property(snapshotsArb, countedPolicyArb, zoneArb, nowArb, (snapshots, policy, timeZone, now) => {
        const removed = removedIdSet(applyRetention(snapshots, policy, { now, timeZone }));
        for (const group of GROUP_POOL) {
          const top = newest(snapshots.filter((s) => s.group === group));
          if (top !== undefined) expect(removed.has(top.id)).toBe(false);
        }
      }),
    );
  });

  it('never removes more when a rule is added or a count raised', () => {
    fc.assert(
      fc.property(
        snapshotsArb,
        policyArb,
        anyPolicyArb,
        zoneArb,
        nowArb,
        (snapshots, base, extra, timeZone, now) => {
          const before = removedIdSet(applyRetention(snapshots, base, { now, timeZone }));
          const after = removedIdSet(applyRetention(snapshots, widen(base, extra), { now, timeZone }));
          for (const id of after) expect(before.has(id)).toBe(true);
        },
      ),
    );
  });

  it('gives the same result whatever the input order', () => {
    const permutedArb = snapshotsArb.chain((snapshots) =>
      fc.tuple(
        fc.constant(snapshots),
        fc.shuffledSubarray(snapshots, { minLength: snapshots.length, maxLength: snapshots.length }),
      ),
    );
    fc.assert(
      fc.property(permutedArb, policyArb, zoneArb, nowArb, ([snapshots, permuted], policy, timeZone, now) => {
        expect(applyRetention(permuted, policy, { now, timeZone })).toEqual(
          applyRetention(snapshots, policy, { now, timeZone }),
        );
      }),
    );
  });

  it('never lets one group change the verdict on another', () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, zoneArb, (snapshots, policy, timeZone) => {
        const all = applyRetention(snapshots, policy, { now: NOW, timeZone });
        for (const group of GROUP_POOL) {
          const alone = applyRetention(
            snapshots.filter((s) => s.group === group),
            policy,
            { now: NOW, timeZone },
          );
          expect(all.keep.filter((k) => k.snapshot.group === group)).toEqual(alone.keep);
        }
      }),
    );
  });

  it('keeps exactly the tagged snapshots under a tags-only policy', () => {
    fc.assert(
      fc.property(snapshotsArb, fc.subarray<string>([...TAG_POOL], { minLength: 1 }), (snapshots, tags) => {
        const removed = removedIdSet(applyRetention(snapshots, { tags }, { now: NOW }));
        for (const s of snapshots) expect(removed.has(s.id)).toBe(!s.tags.some((t) => tags.includes(t)));
      }),
    );
  });

  it('keeps exactly the snapshots after each group newest minus the duration under a within-only policy', () => {
    fc.assert(
      fc.property(
        snapshotsArb,
        durationArb.filter((d) => !isZeroDuration(d)),
        nowArb,
        (snapshots, within, now) => {
          const removed = removedIdSet(applyRetention(snapshots, { within }, { now }));
          for (const s of snapshots) {
            const newest = Math.max(
              ...snapshots.filter((o) => o.group === s.group).map((o) => o.time.getTime()),
            );
            const cutoff = subtractDuration(new Date(newest), within).getTime();
            expect(removed.has(s.id)).toBe(s.time.getTime() <= cutoff);
          }
        },
      ),
    );
  });
});

/** Fixed-offset zones (no daylight saving in 2019-2025), so a bucket is a slice of a shifted ISO string. */
const MS_PER_MINUTE = 60_000;
const REFERENCE_ZONES = [
  { timeZone: 'UTC', offsetMs: 0 },
  { timeZone: 'Europe/Moscow', offsetMs: MOSCOW_OFFSET_MINUTES * MS_PER_MINUTE },
  { timeZone: 'Asia/Kolkata', offsetMs: KOLKATA_OFFSET_MINUTES * MS_PER_MINUTE },
] as const;

/** How long a prefix of `YYYY-MM-DDTHH` names each bucket. */
const ISO_PREFIX_LENGTH = { hourly: 13, daily: 10, monthly: 7, yearly: 4 } as const;

describe('applyRetention against a reference model', () => {
  it.each(Object.entries(ISO_PREFIX_LENGTH))(
    '%s N keeps the newest of each of the N newest buckets',
    (rule, length) => {
      fc.assert(
        fc.property(
          snapshotsArb,
          fc.integer({ min: 1, max: MAX_COUNT }),
          fc.constantFrom(...REFERENCE_ZONES),
          (snapshots, count, { timeZone, offsetMs }) => {
            const bucketOf = (s: SnapshotForRetention) =>
              new Date(s.time.getTime() + offsetMs).toISOString().slice(0, length);
            const expected: string[] = [];
            for (const group of GROUP_POOL) {
              const members = snapshots.filter((s) => s.group === group);
              const buckets = [...new Set(members.map(bucketOf))].sort().reverse().slice(0, count);
              for (const bucket of buckets) {
                const top = newest(members.filter((s) => bucketOf(s) === bucket));
                if (top !== undefined) expected.push(top.id);
              }
            }
            const result = applyRetention(snapshots, { [rule]: count }, { now: NOW, timeZone });
            expect(result.keep.map((k) => k.snapshot.id).sort(byId)).toEqual(expected.sort(byId));
          },
        ),
      );
    },
  );
});
