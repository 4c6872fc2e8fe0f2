/**
 * The orchestrate stage, as plain functions over the config and the catalog:
 * - `scheduleDue` creates one job per source and schedule slot that has come (a missed slot runs once);
 * - `acceptMessage` creates the job a platform message asks for (one per message id);
 * - `startReady` starts queued jobs, highest priority first, one per source at a time (a lease), heavy
 *   ones within the `maxHeavyTasks` slots, each after the jobs its source waits for;
 * - `requeueAbandoned` puts back jobs whose worker stopped renewing its lease.
 * Every step is safe to run twice or on two instances at once: the catalog's conditional writes decide.
 */
import { CronExpressionParser } from 'cron-parser';
import type { Catalog } from '../catalog/catalog';
import { type Job, type JobKind, StaleStateError, TERMINAL } from '../catalog/jobs';
import type { SourceConfig, ZapasConfig } from './config/schema';
import { correlationIdOr, newCorrelationId } from './log-context';
import { PoisonMessageError, parsePlatformMessage } from './messages';

/** How long a start holds its leases before the worker must renew them. */
export const LEASE_MS = 15 * 60 * 1000;

export type Dispatch = { job: Job; runner: 'agent' | 'function' };

/** The newest time at or before `now` at which `cron`, read in `zone`, fires (ISO). */
export function previousSlot(cron: string, zone: string, now: Date): string {
  return CronExpressionParser.parse(cron, { tz: zone, currentDate: new Date(now.getTime() + 1) })
    .prev()
    .toDate()
    .toISOString();
}

/** A cron that makes jobs: `name` keys its claimed slots, `keyPrefix` its jobs' idempotency keys. */
interface Timer {
  kind: JobKind;
  cron: string;
  zone: string;
  name: string;
  keyPrefix: string;
  type?: 'full' | 'incr';
}

/** Jobs for every schedule slot that has come since the last one claimed: backups and verifications. */
export async function scheduleDue(config: ZapasConfig, catalog: Catalog, now: Date): Promise<Job[]> {
  const created: Job[] = [];
  for (const [id, source] of Object.entries(config.sources)) {
    const timers: Timer[] = source.schedules.map((s) => ({
      kind: 'backup',
      cron: s.cron,
      zone: s.timezone ?? config.timezone,
      name: s.cron,
      keyPrefix: 'schedule',
      ...(source.type === 'postgres' && s.type !== 'auto' ? { type: s.type } : {}),
    }));
    const verify = source.verify.schedule;
    if (verify !== 'after-each')
      timers.push({
        kind: 'verify',
        cron: verify,
        zone: config.timezone,
        name: `verify ${verify}`,
        keyPrefix: 'verify-schedule',
      });
    for (const t of timers) {
      const slot = previousSlot(t.cron, t.zone, now);
      if (!(await catalog.claimScheduleSlot(id, t.name, slot))) continue;
      const { job, created: isNew } = await catalog.createJob(
        {
          kind: t.kind,
          source: id,
          trigger: { kind: 'schedule', ref: `${t.name} @ ${slot}` },
          priority: source.priority,
          idempotencyKey: `${t.keyPrefix}:${id}:${t.cron}:${slot}`,
          ...(t.type ? { type: t.type } : {}),
          // A job a timer makes is a request of its own.
          correlationId: newCorrelationId(),
        },
        now,
      );
      if (isNew) created.push(job);
    }
  }
  return created;
}

/** The job a platform message asks for; PoisonMessageError when it never can be handled. */
export async function acceptMessage(
  config: ZapasConfig,
  catalog: Catalog,
  message: { id: string; body: string },
  now: Date,
): Promise<{ job: Job; created: boolean }> {
  const m = parsePlatformMessage(message.body);
  const source = config.sources[m.source];
  if (!source) throw new PoisonMessageError(`source: no source "${m.source}" in the configuration`);
  if (!source.events.includes(m.type))
    throw new PoisonMessageError(
      `source "${m.source}" does not take "${m.type}" (it takes: ${source.events.join(', ') || 'no events'})`,
    );
  let input: Job['input'];
  if (m.type === 'export-ready') {
    if (source.type !== 'export')
      throw new PoisonMessageError(
        `source "${m.source}" is a ${source.type} source: exports land for export sources`,
      );
    const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(m.at)!;
    input = { bucket: bucket!, key: key!, ...(m.bytes !== undefined ? { size: m.bytes } : {}) };
  }
  return catalog.createJob(
    {
      kind: 'backup',
      source: m.source,
      trigger: { kind: 'message', ref: message.id },
      priority: source.priority,
      idempotencyKey: `message:${message.id}`,
      ...(input ? { input } : {}),
      correlationId: correlationIdOr(m.correlationId),
    },
    now,
  );
}

/** The job for a backup of `source` asked for over HTTP: one per Idempotency-Key. */
export function requestBackup(
  config: ZapasConfig,
  catalog: Catalog,
  source: string,
  key: string,
): Promise<{ job: Job; created: boolean }> {
  return catalog.createJob({
    kind: 'backup',
    source,
    trigger: { kind: 'http', ref: key },
    priority: config.sources[source]!.priority,
    idempotencyKey: `http:${source}:${key}`,
    correlationId: correlationIdOr(),
  });
}

/** Starts what may start now; returns what to run and where. */
export async function startReady(
  config: ZapasConfig,
  catalog: Catalog,
  worker: string,
  now: Date,
): Promise<Dispatch[]> {
  const queued: Job[] = [];
  for (const id of Object.keys(config.sources))
    queued.push(...(await catalog.listJobs(id, { state: 'queued' })));
  // Highest priority first, then oldest.
  queued.sort(
    (a, b) => b.priority - a.priority || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0),
  );
  const started: Dispatch[] = [];
  for (const job of queued) {
    const source = config.sources[job.source];
    if (!source) continue;
    const waiting = await dependencyState(config, catalog, source);
    if (waiting === 'wait') continue;
    if (waiting !== 'ok') {
      await moveQuietly(catalog, job, 'failed', { error: waiting }, now);
      continue;
    }
    if (!(await catalog.acquireLease(`source:${job.source}`, job.id, LEASE_MS, now))) continue;
    const heavy = isHeavy(source);
    const slot = heavy ? await heavySlot(config, catalog, job.id, now) : 'none';
    if (slot === undefined) {
      await catalog.releaseLease(`source:${job.source}`, job.id);
      continue;
    }
    try {
      const running = await catalog.transition(job.id, 'queued', 'running', { worker }, now);
      started.push({ job: running, runner: heavy ? 'agent' : 'function' });
    } catch (err) {
      await catalog.releaseLease(`source:${job.source}`, job.id);
      if (slot !== 'none') await catalog.releaseLease(slot, job.id);
      if (!(err instanceof StaleStateError)) throw err;
    }
  }
  return started;
}

/** Releases a finished job's leases (call when it reaches succeeded, failed or cancelled). */
export async function releaseJob(config: ZapasConfig, catalog: Catalog, job: Job): Promise<void> {
  await catalog.releaseLease(`source:${job.source}`, job.id);
  for (let i = 0; i < config.maxHeavyTasks; i++) await catalog.releaseLease(`heavy:${i}`, job.id);
}

/** Running jobs whose source lease has expired (their worker died): back to queued, to be retried. */
export async function requeueAbandoned(config: ZapasConfig, catalog: Catalog, now: Date): Promise<Job[]> {
  const requeued: Job[] = [];
  for (const id of Object.keys(config.sources)) {
    for (const job of await catalog.listJobs(id, { state: 'running' })) {
      // Taking the lease succeeds only when it has expired (or was never held): the worker is gone.
      const probe = `reaper:${now.getTime()}`;
      if (!(await catalog.acquireLease(`source:${id}`, probe, 1, now))) continue;
      await catalog.releaseLease(`source:${id}`, probe);
      try {
        requeued.push(
          await catalog.transition(
            job.id,
            'running',
            'queued',
            { error: 'worker lost its lease; retried' },
            now,
          ),
        );
      } catch (err) {
        if (!(err instanceof StaleStateError)) throw err;
      }
    }
  }
  return requeued;
}

function isHeavy(source: SourceConfig): boolean {
  return source.heavy ?? source.type === 'postgres';
}

/** A free heavy-task slot taken for `jobId`, or undefined when all are busy. */
async function heavySlot(
  config: ZapasConfig,
  catalog: Catalog,
  jobId: string,
  now: Date,
): Promise<string | undefined> {
  for (let i = 0; i < config.maxHeavyTasks; i++)
    if (await catalog.acquireLease(`heavy:${i}`, jobId, LEASE_MS, now)) return `heavy:${i}`;
  return undefined;
}

/** 'ok' when every source this one waits for has its latest job succeeded (or none), 'wait' while one runs. */
async function dependencyState(
  config: ZapasConfig,
  catalog: Catalog,
  source: SourceConfig,
): Promise<'ok' | 'wait' | string> {
  for (const dep of source.after) {
    if (!config.sources[dep]) continue;
    const [latest] = await catalog.listJobs(dep, { limit: 1 });
    if (!latest) continue;
    if (!TERMINAL.has(latest.state)) return 'wait';
    if (latest.state !== 'succeeded')
      return `waits for "${dep}", whose latest job ${latest.id} ${latest.state}`;
  }
  return 'ok';
}

async function moveQuietly(
  catalog: Catalog,
  job: Job,
  to: 'failed',
  patch: { error: string },
  now: Date,
): Promise<void> {
  try {
    await catalog.transition(job.id, job.state, to, patch, now);
  } catch (err) {
    if (!(err instanceof StaleStateError)) throw err;
  }
}
