/**
 * The embedded queue of `zapas serve`: SQS's semantics in one process — visibility timeout, redelivery
 * with a growing receive count, delays, long polling, and redrive to a dead-letter queue after
 * `maxReceives`. The clock is injectable so tests can move time.
 */
import { randomUUID } from 'node:crypto';
import {
  checkMessage,
  MAX_RECEIVE,
  type Queue,
  type QueueMessage,
  type ReceiveOptions,
  type SendOptions,
} from './queue';

interface Stored {
  id: string;
  body: string;
  attributes: Record<string, string>;
  receiveCount: number;
  /** Epoch ms from which it may be received. */
  visibleAt: number;
  /** The receipt of its current delivery. */
  receipt?: string;
}

export interface LocalQueueOptions {
  visibilitySeconds?: number;
  /** With `deadLetter`: a message received this many times without being deleted moves there. */
  maxReceives?: number;
  deadLetter?: LocalQueue;
  now?: () => number;
}

export class LocalQueue implements Queue {
  private readonly messages = new Map<string, Stored>();
  private readonly waiters = new Set<() => void>();
  private readonly now: () => number;

  constructor(
    readonly name: string,
    private readonly opts: LocalQueueOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  async send(body: string, opts: SendOptions = {}): Promise<string> {
    checkMessage(this.name, body, opts);
    const id = randomUUID();
    this.messages.set(id, {
      id,
      body,
      attributes: { ...opts.attributes },
      receiveCount: 0,
      visibleAt: this.now() + (opts.delaySeconds ?? 0) * 1000,
    });
    for (const wake of this.waiters) wake();
    return id;
  }

  async receive(opts: ReceiveOptions = {}): Promise<QueueMessage[]> {
    const end = Date.now() + (opts.waitSeconds ?? 0) * 1000;
    for (;;) {
      const got = this.take(Math.min(opts.max ?? MAX_RECEIVE, MAX_RECEIVE), opts.visibilitySeconds);
      if (got.length > 0 || Date.now() >= end) return got;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(end - Date.now(), 250));
        this.waiters.add(wake);
      });
    }
  }

  async delete(receipt: string): Promise<void> {
    for (const m of this.messages.values()) if (m.receipt === receipt) this.messages.delete(m.id);
  }

  async changeVisibility(receipt: string, seconds: number): Promise<void> {
    for (const m of this.messages.values())
      if (m.receipt === receipt) {
        m.visibleAt = this.now() + seconds * 1000;
        if (seconds === 0) for (const wake of this.waiters) wake();
      }
  }

  /** Messages waiting or in flight (for status pages and tests). */
  get depth(): number {
    return this.messages.size;
  }

  private take(max: number, visibilitySeconds = this.opts.visibilitySeconds ?? 30): QueueMessage[] {
    const now = this.now();
    const out: QueueMessage[] = [];
    for (const m of [...this.messages.values()]) {
      if (out.length >= max) break;
      if (m.visibleAt > now) continue;
      const { maxReceives, deadLetter } = this.opts;
      if (deadLetter && maxReceives !== undefined && m.receiveCount >= maxReceives) {
        // As SQS does: moved on the receive that would exceed the limit, attributes kept.
        this.messages.delete(m.id);
        void deadLetter.send(m.body, { attributes: m.attributes });
        continue;
      }
      m.receiveCount++;
      m.receipt = randomUUID();
      m.visibleAt = now + visibilitySeconds * 1000;
      out.push({
        id: m.id,
        body: m.body,
        receipt: m.receipt,
        receiveCount: m.receiveCount,
        attributes: { ...m.attributes },
      });
    }
    return out;
  }
}
