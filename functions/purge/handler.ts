/**
 * The purge function: on its timer, retention on every repository whose purge slot has come (holds kept,
 * two-phase deletion with the grace period), skipped while a backup of it runs; a report line each.
 */
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { claimPurges, describePurge, purgeClaimed } from '../../lib/pipeline/purge-due';
import type { Runtime } from '../common/runtime';
import { type InvocationContext, stageHandler } from '../common/stage';

async function purge(rt: Runtime, e: NormalizedEvent, context: InvocationContext): Promise<StageResult> {
  if (e.kind !== 'schedule') throw new Error(`the purge function runs on a timer, not on ${e.kind} events`);
  const now = new Date();
  const owner = `purge:${context.awsRequestId ?? context.requestId ?? process.pid}`;
  for (const name of await claimPurges(rt.config, rt.catalog, now)) {
    const report = await purgeClaimed(
      {
        config: rt.config,
        catalog: rt.catalog,
        open: (n) => rt.repository(n),
        owner,
        // Recorded as the service's own (principal kind system): no alert, so no `alerts` grant.
        record: rt.security.record,
      },
      name,
      now,
    );
    if (report)
      rt.log('purge-done', {
        repository: name,
        summary: describePurge(name, report),
        freedBytes: report.freedBytes,
        condemnedPacks: report.prune.marked.packs,
      });
  }
  return { kind: 'done' };
}

export const handler = stageHandler('purge', purge);
