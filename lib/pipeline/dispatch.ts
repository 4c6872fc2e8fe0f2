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
import { newCorrelationId, withCorrelation } from './log-context';
import { releaseJob } from './orchestrate';

export type Route = 'ingest' | 'verify' | 'agent';

export interface DispatchDeps {
  config: ZapasConfig;
  catalog: Catalog;
  landing(bucket: string): Storage;
  sendIngest(work: IngestWork[]): Promise<void>;
  /** `correlationId`: the job's, for the message. */
  sendVerify(jobId: string, correlationId?: string): Promise<void>;
  /** A retried export whose parts are all stored already: straight to the commit. */
  sendComplete(jobId: string, correlationId?: string): Promise<void>;
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

export interface Dispatched {
  job: string;
  route: Route;
  error?: string;
  correlationId?: string;
}

/**
 * Sends each started job on its way, each in its correlation scope; returns the route each took (or the
 * error that failed it).
 */
export async function dispatchStarted(deps: DispatchDeps, jobs: readonly Job[]): Promise<Dispatched[]> {
  const out: Dispatched[] = [];
  for (const job of jobs) {
    const correlationId = job.correlationId ?? newCorrelationId();
    out.push({ ...(await withCorrelation(correlationId, () => dispatchOne(deps, job))), correlationId });
  }
  return out;
}

async function dispatchOne(deps: DispatchDeps, job: Job): Promise<Dispatched> {
  const now = deps.now ?? (() => new Date());
  const route = routeOf(deps.config, job);
  try {
    if (route === 'ingest') {
      const work = await planIngest(deps.catalog, job, deps.landing(job.input?.bucket ?? ''), deps.partBytes);
      if (work.length > 0) await deps.sendIngest(work);
      else await deps.sendComplete(job.id, job.correlationId);
    } else if (route === 'verify') await deps.sendVerify(job.id, job.correlationId);
    else await deps.startAgent(job);
    return { job: job.id, route };
  } catch (err) {
    const error = `could not be started (${route}): ${(err as Error).message}`;
    await recordFailure(deps.catalog, job, 'running', error, now);
    await releaseJob(deps.config, deps.catalog, job);
    return { job: job.id, route, error };
  }
}
