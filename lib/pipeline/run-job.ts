/**
 * Runs a started backup job with the engine — in a function for light sources, in the agent for heavy
 * ones — renewing its lease while it works, then records the outcome: the job's final state, the
 * source's recovery point or last failure, and the leases let go. A job that fails says why.
 */

import type { Catalog } from '../catalog/catalog';
import type { Job } from '../catalog/jobs';
import type { Repository } from '../repo/repository';
import type { WorkerPool } from '../repo/worker-pool';
import { backupFiles } from '../sources/files/backup';
import { ExcludeMatcher } from '../sources/files/excludes';
import { backupPostgres } from '../sources/postgres/physical-backup';
import type { SourceConfig, ZapasConfig } from './config/schema';
import { recordBackupSuccess, recordFailure, recordJobInTrail } from './job-outcome';
import { LEASE_MS, releaseJob } from './orchestrate';
import type { AuditRecorder } from './service-security';
import { verifySource } from './verify';

export interface RunDeps {
  config: ZapasConfig;
  catalog: Catalog;
  /** Opens the configured repository by name (and its worker pool, when there is one). */
  openRepository(name: string): Promise<{ repo: Repository; pool?: WorkerPool; close(): Promise<void> }>;
  now?: () => Date;
  /** Lease renewal period; a third of the lease by default. */
  heartbeatMs?: number;
  /** Restore verification of a postgres source (see verify.ts). */
  pgVerify?: (source: string) => Promise<{ ok: boolean; detail: string }>;
  /** The audit trail: each backup and each verification (which reads backed-up data) is recorded. */
  record?: AuditRecorder;
}

export interface RunOutcome {
  job: Job;
  snapshotId?: string;
}

/**
 * Runs `job` (state running) to its end, then records it in the audit trail; never throws for a failure
 * of the backup itself (an audit trail that cannot be written is thrown: the job is done, unaudited).
 */
export async function runJob(deps: RunDeps, job: Job): Promise<RunOutcome> {
  const outcome = await runUnaudited(deps, job);
  await recordJobInTrail(deps.record, outcome.job);
  return outcome;
}

async function runUnaudited(deps: RunDeps, job: Job): Promise<RunOutcome> {
  const now = deps.now ?? (() => new Date());
  const source = deps.config.sources[job.source];
  const heartbeat = setInterval(
    () =>
      void deps.catalog.acquireLease(`source:${job.source}`, job.id, LEASE_MS, now()).catch(() => undefined),
    deps.heartbeatMs ?? LEASE_MS / 3,
  );
  heartbeat.unref();
  try {
    if (!source) throw new Error(`source "${job.source}" is no longer in the configuration`);
    const opened = await deps.openRepository(source.repository);
    if (job.kind === 'verify') {
      let verdict: Awaited<ReturnType<typeof verifySource>>;
      try {
        verdict = await verifySource(
          {
            catalog: deps.catalog,
            repo: opened.repo,
            ...(opened.pool ? { pool: opened.pool } : {}),
            ...(deps.pgVerify ? { pgVerify: deps.pgVerify } : {}),
            now,
          },
          job.source,
          source,
        );
      } finally {
        await opened.close();
      }
      if (!verdict.ok) throw new Error(`verification failed: ${verdict.detail}`);
      return { job: await deps.catalog.transition(job.id, 'running', 'succeeded', {}, now()) };
    }
    let result: { snapshotId: string; unreadable: number };
    try {
      result = await backupSource(job, source, opened.repo, opened.pool, now);
    } finally {
      await opened.close();
    }
    const { snapshotId, unreadable } = result;
    // Like the CLI's exit 3: the snapshot is there, and the job says what it lacks.
    const partial = unreadable > 0 ? `${unreadable} file(s) could not be read completely` : undefined;
    const done = await recordBackupSuccess(deps.catalog, job, 'running', source, snapshotId, now, partial);
    return { job: done, snapshotId };
  } catch (err) {
    const failed = await recordFailure(deps.catalog, job, 'running', (err as Error).message, now);
    return { job: failed };
  } finally {
    clearInterval(heartbeat);
    await releaseJob(deps.config, deps.catalog, job);
  }
}

async function backupSource(
  job: Job,
  source: SourceConfig,
  repo: Repository,
  pool: WorkerPool | undefined,
  now: () => Date,
): Promise<{ snapshotId: string; unreadable: number }> {
  switch (source.type) {
    case 'files': {
      // A path that is not there is a misconfigured source, not an empty backup: backupFiles refuses it.
      const r = await backupFiles(repo, source.paths, {
        source: job.source,
        dataClass: source.dataClass,
        excludes: new ExcludeMatcher(source.excludes),
        excludePatterns: source.excludes,
        tags: [`job:${job.id}`],
        now,
        ...(pool ? { pool } : {}),
      });
      return { snapshotId: r.snapshotId, unreadable: r.snapshot.summary.errors };
    }
    case 'postgres':
      return {
        snapshotId: (
          await backupPostgres(repo, {
            source: job.source,
            conninfo: source.conninfo,
            type: job.type ?? 'full',
            dataClass: source.dataClass,
            tags: [`job:${job.id}`],
            now,
            ...(pool ? { pool } : {}),
          })
        ).snapshotId,
        unreadable: 0,
      };
    default:
      throw new Error(
        `${source.type} sources are not backed up yet (this zapas backs up files and postgres)`,
      );
  }
}
