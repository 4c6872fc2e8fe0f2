/**
 * The Queue port: what the stages need of a message queue (AWS SQS, Yandex Message Queue, or the embedded
 * one of `zapas serve`). Delivery is at least once: a message received and not deleted within its
 * visibility timeout comes back, with its receive count one higher.
 */

/** SQS and Message Queue both cap a message at 256 KiB. */
export const MAX_MESSAGE_BYTES = 256 * 1024;
/** And a receive at 10 messages, a long poll at 20 s. */
export const MAX_RECEIVE = 10;
export const MAX_WAIT_SECONDS = 20;

export interface QueueMessage {
  id: string;
  body: string;
  /** Handle for delete and changeVisibility of this delivery. */
  receipt: string;
  /** How many times it has been received, this time included. */
  receiveCount: number;
  /** String message attributes. */
  attributes: Record<string, string>;
}

export interface SendOptions {
  delaySeconds?: number;
  attributes?: Record<string, string>;
}

export interface ReceiveOptions {
  max?: number;
  waitSeconds?: number;
  visibilitySeconds?: number;
}

export interface Queue {
  readonly name: string;
  send(body: string, opts?: SendOptions): Promise<string>;
  receive(opts?: ReceiveOptions): Promise<QueueMessage[]>;
  delete(receipt: string): Promise<void>;
  changeVisibility(receipt: string, seconds: number): Promise<void>;
}

/** A message the queue would refuse (too large, empty): said before anything is sent. */
export class QueueMessageError extends Error {
  override readonly name = 'QueueMessageError';
}

/** Checks a body and options against the limits both clouds share. */
export function checkMessage(queue: string, body: string, opts: SendOptions = {}): void {
  const bytes = Buffer.byteLength(body, 'utf8') + attributeBytes(opts.attributes);
  if (body.length === 0) throw new QueueMessageError(`queue ${queue}: a message body cannot be empty`);
  if (bytes > MAX_MESSAGE_BYTES)
    throw new QueueMessageError(
      `queue ${queue}: a message of ${bytes} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit: put the payload in the landing bucket and send its location`,
    );
  if (opts.delaySeconds !== undefined && !(opts.delaySeconds >= 0 && opts.delaySeconds <= 900))
    throw new QueueMessageError(`queue ${queue}: delay ${opts.delaySeconds} s is outside 0–900 s`);
}

function attributeBytes(attributes: Record<string, string> = {}): number {
  let n = 0;
  for (const [k, v] of Object.entries(attributes))
    n += Buffer.byteLength(k) + Buffer.byteLength(v) + 'String'.length;
  return n;
}

/**
 * Moves a message that must never be retried (it fails validation) to the dead-letter queue with the
 * reason, then deletes it from its queue. Redrive by receive count catches the rest.
 */
export async function deadLetter(
  from: Queue,
  dlq: Queue,
  message: QueueMessage,
  reason: string,
): Promise<void> {
  await dlq.send(message.body, {
    attributes: {
      ...message.attributes,
      'zapas-reason': reason.slice(0, 1024),
      'zapas-source-queue': from.name,
      'zapas-receive-count': String(message.receiveCount),
    },
  });
  await from.delete(message.receipt);
}
