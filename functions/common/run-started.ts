/**
 * Runs a job the orchestrator started (state running) with this runtime: the verify function and the agent
 * both do this. A job that is not running (a redelivered message, a job requeued meanwhile) is left alone.
 */
import type { Job } from '../../lib/catalog/jobs';
import { currentCorrelationId, withCorrelation } from '../../lib/pipeline/log-context';
import { runJob } from '../../lib/pipeline/run-job';
import type { Repository } from '../../lib/repo/repository';
import type { WorkerPool } from '../../lib/repo/worker-pool';
import type { Runtime } from './runtime';

export async function runStarted(
  rt: Runtime,
  jobId: string,
  /** Worker threads for the job, made for its repository (the agent has them; functions do not). */
  pool?: (repo: Repository) => Promise<WorkerPool>,
): Promise<Job | undefined> {
  const job = await rt.catalog.getJob(jobId);
  if (job?.state !== 'running') return job;
  // The agent starts with no scope: the job's correlation id is on its lines.
  if (job.correlationId && !currentCorrelationId())
    return withCorrelation(job.correlationId, () => runStarted(rt, jobId, pool));
  // The job's end is logged even when the trail cannot record it (the job-failed alarms read the log);
  // the audit error is thrown after.
  let unrecorded: { error: unknown } | undefined;
  const { job: done } = await runJob(
    {
      config: rt.config,
      catalog: rt.catalog,
      record: (entry) =>
        rt.security.record(entry).catch((error: unknown) => {
          unrecorded = { error };
        }),
      openRepository: async (name) => {
        const repo = await rt.repository(name);
        const p = pool ? await pool(repo) : undefined;
        return { repo, ...(p ? { pool: p } : {}), close: async () => p?.close() };
      },
    },
    job,
  );
  rt.log(
    `job-${done.state}`,
    {
      job: done.id,
      source: done.source,
      kind: done.kind,
      snapshot: done.snapshotId,
      error: done.error,
    },
    done.state === 'failed' ? 'error' : 'info',
  );
  if (unrecorded) throw unrecorded.error;
  return done;
}
