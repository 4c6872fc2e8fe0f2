/**
 * The catalog on one machine (`zapas serve`, the CLI): the same semantics as the DynamoDB adapter, kept
 * in memory and, with a file, written through after every change (a temporary file renamed over the
 * old one, so a crash leaves the previous state or the new one, never half of either).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Catalog, Hold, IngestPart, Lease, SourceState } from './catalog';
import {
  type Job,
  type JobPatch,
  type JobState,
  movedJob,
  type NewJob,
  newJobRecord,
  StaleStateError,
} from './jobs';

interface State {
  version: 1;
  jobs: Record<string, Job>;
  leases: Record<string, Lease>;
  sources: Record<string, SourceState>;
  slots: Record<string, string>;
  holds: Record<string, Hold>;
  parts: Record<string, IngestPart>;
}

const empty = (): State => ({
  version: 1,
  jobs: {},
  leases: {},
  sources: {},
  slots: {},
  holds: {},
  parts: {},
});

export class EmbeddedCatalog implements Catalog {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly state: State,
    private readonly file?: string,
  ) {}

  /** An embedded catalog, persisted in `file` when given (read back if it exists). */
  static async open(file?: string): Promise<EmbeddedCatalog> {
    if (!file) return new EmbeddedCatalog(empty());
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text === undefined) return new EmbeddedCatalog(empty(), file);
    let state: State;
    try {
      state = JSON.parse(text) as State;
    } catch (err) {
      throw new Error(`catalog file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    if (state.version !== 1)
      throw new Error(`catalog file ${file} has version ${state.version}, this zapas reads 1`);
    return new EmbeddedCatalog({ ...empty(), ...state }, file);
  }

  async createJob(spec: NewJob, now = new Date()): Promise<{ job: Job; created: boolean }> {
    const job = newJobRecord(spec, now);
    const existing = this.state.jobs[job.id];
    if (existing) return { job: structuredClone(existing), created: false };
    this.state.jobs[job.id] = job;
    await this.persist();
    return { job: structuredClone(job), created: true };
  }

  async getJob(id: string): Promise<Job | undefined> {
    const job = this.state.jobs[id];
    return job ? structuredClone(job) : undefined;
  }

  async transition(
    id: string,
    from: JobState,
    to: JobState,
    patch: JobPatch = {},
    now = new Date(),
  ): Promise<Job> {
    const current = this.state.jobs[id];
    if (!current || current.state !== from) throw new StaleStateError(id, from, current?.state);
    const next = movedJob(current, to, patch, now);
    this.state.jobs[id] = next;
    await this.persist();
    return structuredClone(next);
  }

  async listJobs(source: string, opts: { limit?: number; state?: JobState } = {}): Promise<Job[]> {
    const jobs = Object.values(this.state.jobs)
      .filter((j) => j.source === source && (!opts.state || j.state === opts.state))
      .sort((a, b) => (a.createdAt === b.createdAt ? cmp(b.id, a.id) : cmp(b.createdAt, a.createdAt)));
    return structuredClone(opts.limit ? jobs.slice(0, opts.limit) : jobs);
  }

  async acquireLease(
    name: string,
    owner: string,
    ttlMs: number,
    now = new Date(),
  ): Promise<Lease | undefined> {
    const held = this.state.leases[name];
    if (held && held.owner !== owner && held.expiresAt >= now.getTime()) return undefined;
    const lease = { name, owner, expiresAt: now.getTime() + ttlMs };
    this.state.leases[name] = lease;
    await this.persist();
    return { ...lease };
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    if (this.state.leases[name]?.owner !== owner) return;
    delete this.state.leases[name];
    await this.persist();
  }

  async getSourceState(source: string): Promise<SourceState | undefined> {
    const s = this.state.sources[source];
    return s ? structuredClone(s) : undefined;
  }

  async updateSourceState(source: string, patch: Omit<Partial<SourceState>, 'source'>): Promise<SourceState> {
    const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
    const next = { ...this.state.sources[source], ...defined, source };
    this.state.sources[source] = next;
    await this.persist();
    return structuredClone(next);
  }

  async claimScheduleSlot(source: string, schedule: string, slot: string): Promise<boolean> {
    const key = `${source}\u0000${schedule}`;
    const last = this.state.slots[key];
    if (last !== undefined && last >= slot) return false;
    this.state.slots[key] = slot;
    await this.persist();
    return true;
  }

  async putPart(part: IngestPart): Promise<void> {
    this.state.parts[`${part.jobId}#${part.index}`] = structuredClone(part);
    await this.persist();
  }

  async listParts(jobId: string): Promise<IngestPart[]> {
    return Object.values(this.state.parts)
      .filter((p) => p.jobId === jobId)
      .sort((a, b) => a.index - b.index)
      .map((p) => structuredClone(p));
  }

  async putHold(hold: Hold): Promise<void> {
    this.state.holds[`${hold.source}\u0000${hold.id}`] = structuredClone(hold);
    await this.persist();
  }

  async listHolds(source: string): Promise<Hold[]> {
    return structuredClone(
      Object.values(this.state.holds)
        .filter((h) => h.source === source)
        .sort((a, b) => cmp(a.id, b.id)),
    );
  }

  async removeHold(source: string, id: string): Promise<boolean> {
    const key = `${source}\u0000${id}`;
    if (!this.state.holds[key]) return false;
    delete this.state.holds[key];
    await this.persist();
    return true;
  }

  /** Writes the state through (one write at a time, each with the state as it is when it runs). */
  private persist(): Promise<void> {
    const file = this.file;
    if (!file) return Promise.resolve();
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        await mkdir(dirname(file), { recursive: true });
        const temp = `${file}.${process.pid}.tmp`;
        await writeFile(temp, JSON.stringify(this.state), { mode: 0o600 });
        await rename(temp, file);
      });
    return this.writing;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
