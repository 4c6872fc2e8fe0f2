/**
 * Where a started job runs, in the cloud: exports fan out over the ingest queue (one message per byte
 * range), verifications that read back go to the verify queue, and the heavy steps (a pg_basebackup, a
 * file walk, a restore test) to an agent container task. A job that cannot be sent anywhere fails, with
 * the reason, and lets its leases go.
 */

import type { Catalog } from '../catalog/catalog';
import type { Job } from '../catalog/jobs';
import type { Storage } from '../storage/storage';
import type { ZapasConfig } from './config/schema';
import { type IngestWork, planIngest } from './ingest';
import { recordFailure } from './job-outcome';
import { releaseJob } from './orchestrate';

export type Route = 'ingest' | 'verify' | 'agent';

export interface DispatchDeps {
  config: ZapasConfig;
  catalog: Catalog;
  landing(bucket: string): Storage;
  sendIngest(work: IngestWork[]): Promise<void>;
  sendVerify(jobId: string): Promise<void>;
  /** A retried export whose parts are all stored already: straight to the commit. */
  sendComplete(jobId: string): Promise<void>;
  /** Starts an agent task for the job (ECS RunTask, a Serverless Container call). */
  startAgent(job: Job): Promise<void>;
  partBytes?: number;
  now?: () => Date;
}

/** The route of a job. */
export function routeOf(config: ZapasConfig, job: Job): Route {
  const source = config.sources[job.source];
  if (job.kind === 'verify')
    return source?.type === 'postgres' && source.verify.depth === 'restore' ? 'agent' : 'verify';
  return source?.type === 'export' ? 'ingest' : 'agent';
}

/** Sends each started job on its way; returns the route each took (or the error that failed it). */
export async function dispatchStarted(
  deps: DispatchDeps,
  jobs: readonly Job[],
): Promise<{ job: string; route: Route; error?: string }[]> {
  const now = deps.now ?? (() => new Date());
  const out: { job: string; route: Route; error?: string }[] = [];
  for (const job of jobs) {
    const route = routeOf(deps.config, job);
    try {
      if (route === 'ingest') {
        const work = await planIngest(
          deps.catalog,
          job,
          deps.landing(job.input?.bucket ?? ''),
          deps.partBytes,
        );
        if (work.length > 0) await deps.sendIngest(work);
        else await deps.sendComplete(job.id);
      } else if (route === 'verify') await deps.sendVerify(job.id);
      else await deps.startAgent(job);
      out.push({ job: job.id, route });
    } catch (err) {
      const error = `could not be started (${route}): ${(err as Error).message}`;
      await recordFailure(deps.catalog, job, 'running', error, now);
      await releaseJob(deps.config, deps.catalog, job);
      out.push({ job: job.id, route, error });
    }
  }
  return out;
}
