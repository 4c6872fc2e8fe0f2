import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Collects garbage after every `stepBytes` of buffers a thread has churned through. Backups allocate
 * hundreds of megabytes of short-lived buffers (chunks, compressed and sealed blobs) whose memory V8
 * only reclaims when its own heuristics fire; on a 2-core machine that let a backup's resident memory
 * reach 1 GB. A young-generation collection is cheap (a millisecond or two) and keeps it bounded.
 */
export class GarbageBudget {
  private churned = 0;
  private readonly gc: ((opts?: { type: 'minor' | 'major'; execution?: 'sync' }) => void) | undefined;

  constructor(private readonly stepBytes: number) {
    try {
      setFlagsFromString('--expose-gc');
      this.gc = runInNewContext('gc') as GarbageBudget['gc'];
    } catch {
      this.gc = undefined; // no explicit collection available: V8's own heuristics apply
    }
  }

  /** Counts `bytes` of churn; collects once a step is full. */
  spend(bytes: number): void {
    this.churned += bytes;
    if (this.churned < this.stepBytes || !this.gc) return;
    this.churned = 0;
    this.gc({ type: 'minor' });
  }
}

/**
 * Frees an ArrayBuffer's memory now instead of at some later collection, by detaching it (every view
 * of it becomes empty). For large buffers a thread is done with, e.g. a pack a worker has verified:
 * V8 collects them only when its external-memory heuristics fire, which let a check hold hundreds of
 * megabytes of dead packs.
 */
export function releaseNow(buffer: ArrayBufferLike): void {
  const b = buffer as ArrayBuffer & { detached?: boolean; transfer?: (length: number) => ArrayBuffer };
  if (b instanceof ArrayBuffer && b.detached === false && typeof b.transfer === 'function') b.transfer(0);
}
