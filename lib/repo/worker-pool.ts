import { Worker } from 'node:worker_threads';

/** A message from a worker about one job. */
interface FromWorker {
  jobId: number;
  kind: 'message' | 'done' | 'error';
  payload: unknown;
  error?: { name: string; message: string; code?: string; path?: string };
}

interface PendingJob {
  resolve(value: unknown): void;
  reject(err: Error): void;
  onMessage?: (
    msg: unknown,
    reply: (m: Record<string, unknown>, transfer?: ArrayBuffer[]) => void,
  ) => unknown;
  chain: Promise<unknown>;
  worker: PoolWorker;
}

interface PoolWorker {
  worker: Worker;
  busy: number;
}

/**
 * What worker threads run: the path of the worker bundle (dist/zapas-worker.cjs), or its code (the
 * self-contained executable carries it inside and has no file of it to start).
 */
export type WorkerScript = string | { readonly code: string };

/** Jobs a worker holds at once: one running and one ready, so it never waits for the main thread. */
export const JOBS_PER_WORKER = 2;

/** Young-generation size of a worker thread's heap. */
export const WORKER_YOUNG_GENERATION_MB = 6;

/**
 * The transfer list for sending `bytes` to a worker: its memory moves instead of being copied, when the
 * buffer owns all of it (a slice of a larger or pooled buffer is cloned).
 */
export function transferOf(bytes: Uint8Array): ArrayBuffer[] {
  return bytes.byteOffset === 0 && bytes.length === bytes.buffer.byteLength
    ? [bytes.buffer as ArrayBuffer]
    : [];
}

/** A job failed inside a worker; carries the worker's error kind, errno code and path. */
export class WorkerJobError extends Error {
  override readonly name = 'WorkerJobError';
  constructor(
    readonly kind: string,
    message: string,
    readonly code?: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/**
 * Worker threads for the CPU-heavy steps (chunking, hashing, compression, sealing, and the reverse),
 * so a backup or restore uses every core. Jobs go to workers as they have room; a job may stream
 * messages back (handled in order) before its final result.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly jobs = new Map<number, PendingJob>();
  private readonly waiting: (Pick<PendingJob, 'resolve' | 'reject' | 'onMessage'> & {
    job: Record<string, unknown>;
    transfer: ArrayBuffer[];
  })[] = [];
  private nextId = 1;

  /**
   * Workers start on the first job or on warmUp(). Their setup (keys, chunker parameters) is `workerData`,
   * or, when the pool must start before it is known, what configure() sends later.
   */
  constructor(
    private readonly script: WorkerScript,
    private readonly poolSize: number,
    private workerData?: Record<string, unknown>,
  ) {}

  /**
   * Starts the threads now, before their setup is known: a command warms them up while it derives the key
   * from the password (0.25 s of scrypt on one core, during which a worker's 0.1 s start-up is free).
   */
  warmUp(): void {
    if (this.workers.length === 0) this.start();
  }

  /** Gives the workers their setup; jobs sent before it wait for it in the worker. */
  configure(workerData: Record<string, unknown>): void {
    if (this.workerData) throw new Error('the worker pool is configured already');
    this.workerData = workerData;
    for (const w of this.workers) w.worker.postMessage({ op: 'configure', setup: workerData });
  }

  private start(): void {
    for (let i = 0; i < this.poolSize; i++) {
      const worker = new Worker(typeof this.script === 'string' ? this.script : this.script.code, {
        eval: typeof this.script !== 'string',
        workerData: { zapasWorker: true, ...(this.workerData ? { setup: this.workerData } : {}) },
        // Workers churn through buffers too: a small young generation keeps their heaps small.
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (msg: FromWorker) => this.receive(msg));
      worker.on('error', (err) => this.failWorker(entry, err));
      // Any exit fails the worker's jobs: even code 0 (a worker terminated before it started exits so).
      worker.on('exit', (code) =>
        this.failWorker(entry, new Error(`worker thread exited with code ${code}`)),
      );
      this.workers.push(entry);
    }
  }

  get size(): number {
    return this.poolSize;
  }

  /**
   * Runs a job; `onMessage` sees the job's streamed messages in order and may reply (e.g. flow-control
   * acks). A worker holds at most JOBS_PER_WORKER jobs (one running, one ready); the rest wait here and go
   * to whichever worker frees up first. (Handing every job out at once balanced job counts, not work: with
   * a folder of large files one worker ran a second too long while the other idled.)
   */
  run<T>(
    job: Record<string, unknown>,
    transfer: ArrayBuffer[] = [],
    onMessage?: PendingJob['onMessage'],
  ): Promise<T> {
    if (this.workers.length === 0) this.start();
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ job, transfer, resolve: resolve as (v: unknown) => void, reject, onMessage });
      this.dispatch();
    });
  }

  /** Hands waiting jobs to workers with room, least busy first. */
  private dispatch(): void {
    while (this.waiting.length > 0 && this.workers.length > 0) {
      const target = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (target.busy >= JOBS_PER_WORKER) return;
      const { job, transfer, resolve, reject, onMessage } = this.waiting.shift()!;
      const jobId = this.nextId++;
      target.busy++;
      this.jobs.set(jobId, { resolve, reject, onMessage, chain: Promise.resolve(), worker: target });
      target.worker.postMessage({ ...job, jobId }, transfer);
    }
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    const closed = new Error('the worker pool was closed');
    for (const w of this.waiting.splice(0)) w.reject(closed);
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
    for (const w of workers) this.failWorker(w, closed);
  }

  private receive(msg: FromWorker): void {
    const job = this.jobs.get(msg.jobId);
    if (!job) return;
    const reply = (m: Record<string, unknown>, transfer: ArrayBuffer[] = []) =>
      job.worker.worker.postMessage({ ...m, jobId: msg.jobId }, transfer);
    job.chain = job.chain.then(async () => {
      if (msg.kind === 'message') {
        await job.onMessage?.(msg.payload, reply);
        return;
      }
      this.jobs.delete(msg.jobId);
      job.worker.busy--;
      this.dispatch();
      if (msg.kind === 'done') job.resolve(msg.payload);
      else
        job.reject(
          new WorkerJobError(
            msg.error?.name ?? 'Error',
            msg.error?.message ?? 'worker job failed',
            msg.error?.code,
            msg.error?.path,
          ),
        );
    });
    job.chain.catch((err: Error) => {
      // A failing message handler fails the job; the worker's later messages for it are ignored.
      if (this.jobs.delete(msg.jobId)) {
        job.worker.busy--;
        this.dispatch();
        job.reject(err);
      }
    });
  }

  /** A worker died: its jobs fail, and it takes no more (when none is left, waiting jobs fail too). */
  private failWorker(entry: PoolWorker, cause: Error): void {
    // Without the cause's errno-style code: a crashed worker (out of memory, say) is not a file that
    // could not be read, and must fail the command rather than be skipped with a warning.
    const err = new Error(`worker thread failed: ${cause.message}`, { cause });
    for (const [id, job] of this.jobs) {
      if (job.worker !== entry) continue;
      this.jobs.delete(id);
      job.reject(err);
    }
    const at = this.workers.indexOf(entry);
    if (at >= 0) this.workers.splice(at, 1);
    if (this.workers.length === 0) for (const w of this.waiting.splice(0)) w.reject(err);
  }
}
