/**
 * A cap on the backups of one source waiting or running: a request for one more is refused (409) with
 * the jobs in the way named, while a request that repeats an Idempotency-Key still gets its job back.
 * Within one process, requests for the same source are taken one at a time, so a burst cannot pass
 * the count together; separate instances of the cloud function may each add one past it.
 */
import type { Catalog } from '../catalog/catalog';
import { type Job, jobIdOf } from '../catalog/jobs';

/** Job states that count against the cap. */
const ACTIVE = ['queued', 'running', 'committing'] as const;
/** At most this many jobs of each state are read to count (the cap itself is far lower). */
const COUNT_LIMIT = 1000;

export type CappedRequest = { job: Job; created: boolean } | { refused: true; active: Job[] };

export class JobCap {
  /** The request being handled per source: the next one waits for it. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(
    private readonly catalog: Catalog,
    private readonly max: number,
  ) {}

  /**
   * Creates the job with `create` unless `source` already has `max` backups queued or running. `key`:
   * the client's Idempotency-Key, whose job (made by orchestrate's requestBackup, keyed
   * `http:<source>:<key>`) is returned as it is when it exists.
   */
  request(
    source: string,
    key: string | undefined,
    create: () => Promise<{ job: Job; created: boolean }>,
  ): Promise<CappedRequest> {
    const before = this.busy.get(source) ?? Promise.resolve();
    const mine = before.then(() => this.decide(source, key, create));
    const settled = mine.catch(() => undefined);
    this.busy.set(source, settled);
    void settled.then(() => {
      if (this.busy.get(source) === settled) this.busy.delete(source);
    });
    return mine;
  }

  private async decide(
    source: string,
    key: string | undefined,
    create: () => Promise<{ job: Job; created: boolean }>,
  ): Promise<CappedRequest> {
    if (key !== undefined) {
      const existing = await this.catalog.getJob(jobIdOf(`http:${source}:${key}`));
      if (existing) return { job: existing, created: false };
    }
    const active: Job[] = [];
    for (const state of ACTIVE)
      for (const job of await this.catalog.listJobs(source, { state, limit: COUNT_LIMIT }))
        if (job.kind === 'backup') active.push(job);
    if (active.length >= this.max) return { refused: true, active };
    return create();
  }
}
