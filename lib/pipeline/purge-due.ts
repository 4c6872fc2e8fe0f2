/**
 * The scheduled purge, as `zapas serve` and the purge function both run it: once per purge slot and
 * repository (a claimed slot), under a lease (one purge of a repository at a time), and never while a
 * backup of that repository runs (prune needs the repository to itself; the purge then waits for a later
 * tick, the slot stays unclaimed).
 */
import type { Catalog } from '../catalog/catalog';
import { parseDuration, subtractDuration } from '../policy/duration';
import type { Repository } from '../repo/repository';
import type { ZapasConfig } from './config/schema';
import { LEASE_MS, previousSlot } from './orchestrate';
import { type PurgeReport, purgeRepository } from './purge';
import { type AuditRecorder, systemPrincipal } from './service-security';

export interface PurgeDueDeps {
  config: ZapasConfig;
  catalog: Catalog;
  open(repository: string): Promise<Repository>;
  /** Who purges (for the lease). */
  owner: string;
  /** The audit trail: each purge (what it forgot and condemned, or why it failed) is recorded. */
  record?: AuditRecorder;
}

/** Whether any source of `repository` has a job running. */
export async function repositoryBusy(
  config: ZapasConfig,
  catalog: Catalog,
  repository: string,
): Promise<boolean> {
  for (const [id, source] of Object.entries(config.sources))
    if (
      source.repository === repository &&
      (await catalog.listJobs(id, { state: 'running', limit: 1 })).length > 0
    )
      return true;
  return false;
}

/** Repositories whose purge slot has come, claimed for this caller (a second caller gets none). */
export async function claimPurges(config: ZapasConfig, catalog: Catalog, now: Date): Promise<string[]> {
  const { schedule } = config.purge;
  const slot = previousSlot(schedule, config.timezone, now);
  const claimed: string[] = [];
  for (const name of Object.keys(config.repositories)) {
    if (await repositoryBusy(config, catalog, name)) continue;
    if (await catalog.claimScheduleSlot(`repository:${name}`, `purge ${schedule}`, slot)) claimed.push(name);
  }
  return claimed;
}

/** Purges one claimed repository under its lease; undefined when another purge holds it. */
export async function purgeClaimed(
  deps: PurgeDueDeps,
  repository: string,
  now: Date,
): Promise<PurgeReport | undefined> {
  const { config, catalog } = deps;
  if (!(await catalog.acquireLease(`purge:${repository}`, deps.owner, LEASE_MS, now))) return undefined;
  try {
    const audited = (
      outcome: 'allowed' | 'succeeded' | 'failed',
      target: Record<string, string>,
      reason?: string,
    ) =>
      deps.record?.({
        principal: systemPrincipal('retention'),
        action: 'delete',
        target: { repository, ...target },
        outcome,
        ...(reason ? { reason } : {}),
      });
    // In the trail before anything is deleted: while it cannot be written, nothing is (the next slot retries).
    await audited('allowed', {});
    let report: PurgeReport;
    try {
      const repo = await deps.open(repository);
      const graceMs = now.getTime() - subtractDuration(now, parseDuration(config.purge.grace)).getTime();
      report = await purgeRepository({ config, catalog, repo, repository, now, graceMs });
    } catch (err) {
      await audited('failed', {}, (err as Error).message);
      throw err;
    }
    const forgotten = report.sources.flatMap((x) => x.removed.map((r) => `${x.source}/${r.id.slice(0, 8)}`));
    await audited('succeeded', {
      forgotten: String(forgotten.length),
      // Ids enough to find them in the log, within an event's bounds.
      snapshots: forgotten.join(' ').slice(0, 4000),
      condemnedPacks: String(report.prune.marked.packs),
    });
    return report;
  } finally {
    await catalog.releaseLease(`purge:${repository}`, deps.owner);
  }
}

/** One line for the log: what a purge forgot, condemned, freed and kept past its maximum for a hold. */
export function describePurge(repository: string, r: PurgeReport): string {
  const removed = r.sources.reduce((n, x) => n + x.removed.length, 0);
  const held = r.sources.flatMap((x) =>
    x.heldPastMaximum.map((h) => `${x.source}/${h.id.slice(0, 8)} (${h.hold})`),
  );
  return `purge of repository "${repository}": ${removed} snapshot(s) forgotten, ${r.prune.marked.packs} pack(s) condemned, ${r.freedBytes} bytes freed${held.length ? `; held past their maximum: ${held.join(', ')}` : ''}`;
}
