/**
 * What the purge stage removes, decided per source from its configured retention and the legal holds
 * on it. Precedence, strongest first:
 *   1. a legal hold keeps a snapshot, whatever its age (even past the maximum: reported as such);
 *   2. `minimum`: nothing younger is removed (a retention lock: 402-FZ keeps payment data 5 years);
 *   3. `maximum`: anything older is removed (152-FZ: personal data no longer than its purpose);
 *   4. the keep rules (`keepLast`, `keepDaily`, …) decide the rest; with none, everything is kept.
 * Pure: the clock comes in.
 */
import { type Duration, subtractDuration } from './duration';
import { applyRetention, type RetentionPolicy, type SnapshotForRetention } from './retention';

export interface PurgeRules {
  keep: RetentionPolicy;
  minimum?: Duration;
  maximum?: Duration;
}

export interface HoldOnSnapshots {
  id: string;
  /** Held snapshot ids; all of the source's when absent. */
  snapshots?: readonly string[];
}

export interface PurgePlan {
  keep: { snapshot: SnapshotForRetention; reasons: string[] }[];
  remove: { snapshot: SnapshotForRetention; reason: string }[];
  /** Kept only by a hold although older than the maximum: a reminder that the hold must end one day. */
  heldPastMaximum: { snapshot: SnapshotForRetention; hold: string }[];
}

function hasKeepRule(p: RetentionPolicy): boolean {
  return (
    [p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly].some((n) => n !== undefined && n > 0) ||
    p.within !== undefined ||
    (p.tags?.length ?? 0) > 0
  );
}

/** The plan for one source's snapshots (all of one group). */
export function planPurge(
  snapshots: readonly SnapshotForRetention[],
  rules: PurgeRules,
  holds: readonly HoldOnSnapshots[],
  opts: { now: Date; timeZone?: string },
): PurgePlan {
  const youngAfter = rules.minimum ? subtractDuration(opts.now, rules.minimum).getTime() : undefined;
  const expiredBefore = rules.maximum ? subtractDuration(opts.now, rules.maximum).getTime() : undefined;
  const byRules = hasKeepRule(rules.keep)
    ? applyRetention(snapshots, rules.keep, {
        now: opts.now,
        ...(opts.timeZone ? { timeZone: opts.timeZone } : {}),
      })
    : undefined;
  const ruleReasons = new Map(byRules?.keep.map((k) => [k.snapshot.id, [...k.reasons]]) ?? []);
  const plan: PurgePlan = { keep: [], remove: [], heldPastMaximum: [] };
  for (const snapshot of snapshots) {
    const t = snapshot.time.getTime();
    const held = holds.filter((h) => !h.snapshots || h.snapshots.includes(snapshot.id)).map((h) => h.id);
    const expired = expiredBefore !== undefined && t < expiredBefore;
    if (held.length > 0) {
      plan.keep.push({ snapshot, reasons: held.map((h) => `legal hold ${h}`) });
      if (expired) plan.heldPastMaximum.push({ snapshot, hold: held[0]! });
    } else if (youngAfter !== undefined && t > youngAfter) {
      plan.keep.push({ snapshot, reasons: ['younger than the retention minimum'] });
    } else if (expired) {
      plan.remove.push({ snapshot, reason: 'older than the retention maximum' });
    } else if (!byRules) {
      plan.keep.push({ snapshot, reasons: ['no keep rules: kept'] });
    } else if (ruleReasons.has(snapshot.id)) {
      plan.keep.push({ snapshot, reasons: ruleReasons.get(snapshot.id)! });
    } else {
      plan.remove.push({ snapshot, reason: 'no keep rule keeps it' });
    }
  }
  return plan;
}
