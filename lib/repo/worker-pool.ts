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

/** Young-generation size of a worker thread's heap. */
export const WORKER_YOUNG_GENERATION_MB = 6;

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
 * so a backup or restore uses every core. Each job goes to the least busy worker; a job may stream
 * messages back (handled in order) before its final result.
 */
export class WorkerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly jobs = new Map<number, PendingJob>();
  private nextId = 1;

  /** Workers start on the first job: a backup with nothing to read (a no-op incremental) starts none. */
  constructor(
    private readonly script: string,
    private readonly poolSize: number,
    private readonly workerData: unknown,
  ) {}

  private start(): void {
    for (let i = 0; i < this.poolSize; i++) {
      const worker = new Worker(this.script, {
        workerData: { zapasWorker: true, ...(this.workerData as object) },
        // Workers churn through buffers too: a small young generation keeps their heaps small.
        resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      });
      const entry: PoolWorker = { worker, busy: 0 };
      worker.on('message', (msg: FromWorker) => this.receive(msg));
      worker.on('error', (err) => this.failWorker(entry, err));
      worker.on(
        'exit',
        (code) => code !== 0 && this.failWorker(entry, new Error(`worker thread exited with code ${code}`)),
      );
      this.workers.push(entry);
    }
  }

  get size(): number {
    return this.poolSize;
  }

  /** Runs a job; `onMessage` sees the job's streamed messages in order and may reply (e.g. flow-control acks). */
  run<T>(
    job: Record<string, unknown>,
    transfer: ArrayBuffer[] = [],
    onMessage?: PendingJob['onMessage'],
  ): Promise<T> {
    if (this.workers.length === 0) this.start();
    const target = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const jobId = this.nextId++;
    target.busy++;
    return new Promise<T>((resolve, reject) => {
      this.jobs.set(jobId, {
        resolve: resolve as (v: unknown) => void,
        reject,
        onMessage,
        chain: Promise.resolve(),
        worker: target,
      });
      target.worker.postMessage({ ...job, jobId }, transfer);
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
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
        job.reject(err);
      }
    });
  }

  private failWorker(entry: PoolWorker, err: Error): void {
    for (const [id, job] of this.jobs) {
      if (job.worker !== entry) continue;
      this.jobs.delete(id);
      job.reject(err);
    }
  }
}
