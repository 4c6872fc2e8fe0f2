/**
 * Runs a job the orchestrator started (state running) with this runtime: the verify function and the agent
 * both do this. A job that is not running (a redelivered message, a job requeued meanwhile) is left alone.
 */
import type { Job } from '../../lib/catalog/jobs';
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
  const { job: done } = await runJob(
    {
      config: rt.config,
      catalog: rt.catalog,
      openRepository: async (name) => {
        const repo = await rt.repository(name);
        const p = pool ? await pool(repo) : undefined;
        return { repo, ...(p ? { pool: p } : {}), close: async () => p?.close() };
      },
    },
    job,
  );
  rt.log(`job-${done.state}`, {
    job: done.id,
    source: done.source,
    kind: done.kind,
    snapshot: done.snapshotId,
    error: done.error,
  });
  return done;
}
