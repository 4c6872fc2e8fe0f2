/**
 * How a job's end is recorded, whoever ran it (a function, the agent, the ingest commit): the final state,
 * the source's recovery point or last failure, the verification an `after-each` policy asks for.
 */
import type { Catalog } from '../catalog/catalog';
import type { Job, JobState } from '../catalog/jobs';
import type { SourceConfig } from './config/schema';
import { type AuditRecorder, systemPrincipal } from './service-security';

/**
 * A job's end in the audit trail (when there is one): a backup as `backup`, a verification (which reads
 * the backup back) as `read`, done by the service itself on what triggered the job.
 */
export async function recordJobInTrail(record: AuditRecorder | undefined, done: Job): Promise<void> {
  await record?.({
    principal: systemPrincipal(`job triggered by ${done.trigger.kind}`),
    action: done.kind === 'verify' ? 'read' : 'backup',
    target: { source: done.source, job: done.id, ...(done.snapshotId ? { snapshot: done.snapshotId } : {}) },
    outcome: done.state === 'succeeded' ? 'succeeded' : 'failed',
    ...(done.error ? { reason: done.error.slice(0, 4000) } : {}),
  });
}

/** A backup that produced `snapshotId`: succeeded, the recovery point moved, a verify job if asked for. */
export async function recordBackupSuccess(
  catalog: Catalog,
  job: Job,
  from: JobState,
  source: SourceConfig,
  snapshotId: string,
  now: () => Date,
  error?: string,
): Promise<Job> {
  const done = await catalog.transition(
    job.id,
    from,
    'succeeded',
    { snapshotId, ...(error ? { error } : {}) },
    now(),
  );
  await catalog.updateSourceState(job.source, {
    lastSnapshotAt: done.endedAt!,
    lastSnapshotId: snapshotId,
    lastJobId: job.id,
  });
  if (source.verify.schedule === 'after-each')
    await catalog.createJob(
      {
        kind: 'verify',
        source: job.source,
        trigger: { kind: 'event', ref: `after ${job.id}` },
        priority: source.priority,
        idempotencyKey: `verify-after:${job.id}`,
        ...(job.correlationId ? { correlationId: job.correlationId } : {}),
      },
      now(),
    );
  return done;
}

/** A job that failed with `error`; a backup's failure is also the source's last failure. */
export async function recordFailure(
  catalog: Catalog,
  job: Job,
  from: JobState,
  error: string,
  now: () => Date,
): Promise<Job> {
  const failed = await catalog.transition(job.id, from, 'failed', { error }, now());
  if (job.kind === 'backup')
    await catalog.updateSourceState(job.source, {
      lastFailureAt: failed.endedAt!,
      lastError: error,
      lastJobId: job.id,
    });
  return failed;
}
