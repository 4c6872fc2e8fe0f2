/**
 * The purge stage for one repository: each configured source's snapshots are planned (lib/policy/
 * purge-plan.ts: holds, minimum, maximum, keep rules), the removed ones forgotten, then the two-phase
 * prune runs (packs condemned now are deleted by a later purge, after the grace period) and archived WAL
 * no kept base backup needs goes. Snapshots of sources the configuration does not name are left alone.
 */
import type { Catalog } from '../catalog/catalog';
import { parseDuration } from '../policy/duration';
import { type PurgeRules, planPurge } from '../policy/purge-plan';
import type { RetentionPolicy } from '../policy/retention';
import type { SnapshotId } from '../repo/ids';
import { type PruneReport, pruneRepository } from '../repo/prune';
import type { Repository } from '../repo/repository';
import { applyWalExpiry, planWalExpiry } from '../sources/postgres/wal-retention';
import type { RetentionConfig, ZapasConfig } from './config/schema';

export interface PurgeOptions {
  config: ZapasConfig;
  catalog: Catalog;
  repo: Repository;
  /** The configuration's name of this repository. */
  repository: string;
  now: Date;
  graceMs: number;
  dryRun?: boolean;
}

export interface SourcePurge {
  source: string;
  kept: number;
  removed: { id: string; time: string; reason: string }[];
  held: number;
  heldPastMaximum: { id: string; hold: string }[];
}

export interface PurgeReport {
  sources: SourcePurge[];
  /** Snapshots of sources the configuration does not name: never touched. */
  unmanaged: number;
  prune: PruneReport;
  wal: { files: number; bytes: number };
  /** Bytes deleted now (condemned packs past their grace, WAL). */
  freedBytes: number;
}

export async function purgeRepository(opts: PurgeOptions): Promise<PurgeReport> {
  const { config, catalog, repo } = opts;
  const snapshots = await repo.listSnapshots();
  const managed = Object.entries(config.sources).filter(([, s]) => s.repository === opts.repository);
  const names = new Set(managed.map(([id]) => id));
  const sources: SourcePurge[] = [];
  for (const [id, source] of managed) {
    const own = snapshots
      .filter((s) => s.snapshot.source === id)
      .map((s) => ({ id: s.id, time: new Date(s.snapshot.time), tags: s.snapshot.tags, group: id }));
    const holds = await catalog.listHolds(id);
    const plan = planPurge(own, rulesOf(source.retention), holds, {
      now: opts.now,
      timeZone: config.timezone,
    });
    if (!opts.dryRun) for (const r of plan.remove) await repo.deleteSnapshot(r.snapshot.id as SnapshotId);
    sources.push({
      source: id,
      kept: plan.keep.length,
      removed: plan.remove.map((r) => ({
        id: r.snapshot.id,
        time: r.snapshot.time.toISOString(),
        reason: r.reason,
      })),
      held: plan.keep.filter((k) => k.reasons.some((x) => x.startsWith('legal hold'))).length,
      heldPastMaximum: plan.heldPastMaximum.map((h) => ({ id: h.snapshot.id, hold: h.hold })),
    });
  }
  const prune = await pruneRepository(repo, {
    graceMs: opts.graceMs,
    ...(opts.dryRun ? { dryRun: true } : {}),
  });
  // What is left, derived rather than listed again: each snapshot listed is a read and a decryption.
  const forgotten = new Set(sources.flatMap((x) => x.removed.map((r) => r.id)));
  const walPlans = await planWalExpiry(
    repo,
    snapshots.filter((s) => !forgotten.has(s.id)),
  );
  const walBytes = walPlans.reduce((n, p) => n + p.remove.reduce((m, e) => m + e.size, 0), 0);
  const walFiles = opts.dryRun
    ? walPlans.reduce((n, p) => n + p.remove.length, 0)
    : await applyWalExpiry(repo, walPlans);
  return {
    sources,
    unmanaged: snapshots.filter((s) => !names.has(s.snapshot.source)).length,
    prune,
    wal: { files: walFiles, bytes: walBytes },
    freedBytes: (opts.dryRun ? 0 : prune.deleted.bytes) + (opts.dryRun ? 0 : walBytes),
  };
}

function rulesOf(r: RetentionConfig): PurgeRules {
  const keep: RetentionPolicy = {
    ...(r.keepLast ? { last: r.keepLast } : {}),
    ...(r.keepHourly ? { hourly: r.keepHourly } : {}),
    ...(r.keepDaily ? { daily: r.keepDaily } : {}),
    ...(r.keepWeekly ? { weekly: r.keepWeekly } : {}),
    ...(r.keepMonthly ? { monthly: r.keepMonthly } : {}),
    ...(r.keepYearly ? { yearly: r.keepYearly } : {}),
    ...(r.keepWithin ? { within: parseDuration(r.keepWithin) } : {}),
  };
  return {
    keep,
    ...(r.minimum ? { minimum: parseDuration(r.minimum) } : {}),
    ...(r.maximum ? { maximum: parseDuration(r.maximum) } : {}),
  };
}
