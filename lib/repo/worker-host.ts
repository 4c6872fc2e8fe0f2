import { parentPort } from 'node:worker_threads';

/** What a job handler may do besides returning its result. */
export interface JobContext {
  /** Streams a message to the main thread; waits while more than the flow-control budget is unacknowledged. */
  send(payload: unknown, transfer?: ArrayBuffer[], bytes?: number): Promise<void>;
}

export type JobHandler = (job: Record<string, unknown>, ctx: JobContext) => Promise<unknown>;

/** A job result whose buffers move back to the main thread instead of being copied (or freed here). */
export class WithTransfer {
  constructor(
    readonly value: unknown,
    readonly transfer: ArrayBuffer[],
  ) {}
}

/**
 * Unacknowledged streamed bytes per worker before it pauses (the main thread acks as it packs). Kept
 * per worker, not per job: a per-job budget let a fast worker run ahead by a budget per queued job.
 */
const FLOW_CONTROL_BYTES = 8 * 1024 * 1024;

/**
 * Serves jobs in a worker thread: one at a time, in arrival order; `ack` messages release flow control
 * and may hand back the buffers a message transferred, for `reclaim` to reuse. Jobs run only once the
 * thread has its setup: `setup` (from workerData) or a later `configure` message, passed to `configure`.
 */
export function serveJobs(
  handlers: Record<string, JobHandler>,
  options: {
    setup?: Record<string, unknown>;
    configure?: (setup: Record<string, unknown>) => void;
    reclaim?: (buffers: ArrayBuffer[]) => void;
  } = {},
): void {
  const port = parentPort;
  if (!port) throw new Error('serveJobs must run in a worker thread');
  const { configure, reclaim } = options;
  const queue: Record<string, unknown>[] = [];
  const flow = { bytes: 0, wake: undefined as (() => void) | undefined };
  let running = false;
  let configured = !configure;
  if (options.setup && configure) {
    configure(options.setup);
    configured = true;
  }

  const runNext = async () => {
    if (running || !configured) return;
    running = true;
    while (queue.length > 0) {
      const job = queue.shift()!;
      const jobId = job.jobId as number;
      const ctx: JobContext = {
        async send(payload, transfer = [], bytes = 0) {
          port.postMessage({ jobId, kind: 'message', payload }, transfer);
          flow.bytes += bytes;
          while (flow.bytes > FLOW_CONTROL_BYTES) await new Promise<void>((resolve) => (flow.wake = resolve));
        },
      };
      try {
        const handler = handlers[job.op as string];
        if (!handler) throw new Error(`unknown worker job ${String(job.op)}`);
        const result = await handler(job, ctx);
        if (result instanceof WithTransfer)
          port.postMessage({ jobId, kind: 'done', payload: result.value }, result.transfer);
        else port.postMessage({ jobId, kind: 'done', payload: result });
      } catch (err) {
        const e = err as NodeJS.ErrnoException & { path?: unknown };
        port.postMessage({
          jobId,
          kind: 'error',
          error: {
            name: e.name ?? 'Error',
            message: e.message ?? String(err),
            code: e.code,
            path: typeof e.path === 'string' ? e.path : undefined,
          },
        });
      }
    }
    running = false;
  };

  port.on('message', (msg: Record<string, unknown>) => {
    if (msg.op === 'configure') {
      configure?.(msg.setup as Record<string, unknown>);
      configured = true;
      void runNext();
      return;
    }
    if (msg.op === 'ack') {
      if (Array.isArray(msg.buffers)) reclaim?.(msg.buffers as ArrayBuffer[]);
      flow.bytes -= msg.bytes as number;
      if (flow.bytes <= FLOW_CONTROL_BYTES) {
        flow.wake?.();
        flow.wake = undefined;
      }
      return;
    }
    queue.push(msg);
    void runNext();
  });
}
