/**
 * Jobs and their state machine. A job is one backup (or verify, or purge) of one source, created once per
 * trigger: its id derives from the trigger's idempotency key, so a message delivered twice finds the job
 * the first delivery made. Every change of state is a conditional write from an expected state.
 */
import { createHash } from 'node:crypto';

export const JOB_STATES = ['queued', 'running', 'committing', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const JOB_KINDS = ['backup', 'verify', 'purge'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * Allowed moves. running → queued is a retry (the worker died, its lease ran out); committing is the
 * snapshot write, after which a failure can no longer undo the backup (only succeeded or failed follow).
 */
export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['running', 'cancelled', 'failed'],
  running: ['committing', 'succeeded', 'failed', 'queued'],
  committing: ['succeeded', 'failed'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

export const TERMINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

export interface JobTrigger {
  kind: 'schedule' | 'message' | 'http' | 'event' | 'object';
  /** What fired: the schedule's cron and slot, the message id, the request id, the landing object. */
  ref: string;
}

export interface Job {
  id: string;
  kind: JobKind;
  source: string;
  state: JobState;
  trigger: JobTrigger;
  /** postgres: full or incr; files: always incremental. */
  type?: 'full' | 'incr';
  priority: number;
  /** Times it was started (queued → running). */
  attempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  endedAt?: string;
  /** Who runs it now (a function invocation, an agent task). */
  worker?: string;
  snapshotId?: string;
  error?: string;
  /** Ids of jobs that must have succeeded before this one starts. */
  after?: string[];
  /** An export job's input: the landing object it ingests (deleted once its snapshot is committed). */
  input?: LandingObject;
  /** Ties the job's log lines, messages and audit events to the request that made it. */
  correlationId?: string;
}

/** An object a platform service dropped in the landing bucket. */
export interface LandingObject {
  bucket: string;
  key: string;
  /** Bytes, when the event said (the orchestrator looks it up when the job starts). */
  size?: number;
  etag?: string;
}

/** What a caller gives to create a job; the rest is filled in. */
export type NewJob = Pick<Job, 'kind' | 'source' | 'trigger' | 'priority'> &
  Partial<Pick<Job, 'type' | 'after' | 'input' | 'correlationId'>> & {
    /** Same key, same job: e.g. `schedule:payments:0 2 * * *:2026-12-02T23:00Z` or a queue message id. */
    idempotencyKey: string;
  };

/** What a transition may change besides the state. */
export type JobPatch = Partial<Pick<Job, 'worker' | 'snapshotId' | 'error' | 'type'>>;

/** The job id of an idempotency key: the same key gives the same id everywhere. */
export function jobIdOf(key: string): string {
  return `j-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

/** A move the state machine does not allow (a bug in the caller, not a race). */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
}

/** The job was not in the expected state (another worker moved it first): the caller lost the race. */
export class StaleStateError extends Error {
  override readonly name = 'StaleStateError';
  constructor(
    readonly jobId: string,
    readonly expected: JobState,
    readonly actual: JobState | undefined,
  ) {
    super(`job ${jobId} is ${actual ?? 'missing'}, not ${expected}`);
  }
}

export function checkTransition(from: JobState, to: JobState): void {
  if (!TRANSITIONS[from].includes(to))
    throw new IllegalTransitionError(
      `a job cannot go from ${from} to ${to} (from ${from}: ${TRANSITIONS[from].join(', ') || 'nothing, it is final'})`,
    );
}

/** A new job record, as created. */
export function newJobRecord(spec: NewJob, now: Date): Job {
  const at = now.toISOString();
  return {
    id: jobIdOf(spec.idempotencyKey),
    kind: spec.kind,
    source: spec.source,
    state: 'queued',
    trigger: spec.trigger,
    ...(spec.type ? { type: spec.type } : {}),
    priority: spec.priority,
    attempts: 0,
    createdAt: at,
    updatedAt: at,
    ...(spec.after?.length ? { after: spec.after } : {}),
    ...(spec.input ? { input: spec.input } : {}),
    ...(spec.correlationId ? { correlationId: spec.correlationId } : {}),
  };
}

/** The record after a transition (checked), with its timestamps. */
export function movedJob(job: Job, to: JobState, patch: JobPatch, now: Date): Job {
  checkTransition(job.state, to);
  const at = now.toISOString();
  const next: Job = { ...job, ...patch, state: to, updatedAt: at };
  if (to === 'running') {
    next.attempts = job.attempts + 1;
    next.startedAt = at;
  }
  if (to === 'queued') delete next.worker;
  if (TERMINAL.has(to)) next.endedAt = at;
  return next;
}
