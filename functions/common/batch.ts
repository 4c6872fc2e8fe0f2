/**
 * A queue batch, message by message: a message that succeeds is done; one that can never succeed (a
 * PoisonMessageError: bad schema, unknown source) goes to the dead-letter queue with its reason and counts
 * as handled, so it is never retried forever; any other failure is reported as a partial batch failure
 * (the platform redelivers that message alone, and after maxReceives moves it to the DLQ itself).
 * Each message is handled, and logged, in the correlation scope of the id it carries (a new one if none).
 */
import type { InboundMessage, StageResult } from '../../lib/pipeline/events/normalize';
import { correlationIdOfBody, withCorrelation } from '../../lib/pipeline/log-context';
import { PoisonMessageError } from '../../lib/pipeline/messages';
import type { Runtime } from './runtime';

export async function eachMessage(
  rt: Runtime,
  messages: readonly InboundMessage[],
  handle: (m: InboundMessage) => Promise<void>,
): Promise<StageResult> {
  const failed: string[] = [];
  for (const m of messages)
    if (!(await withCorrelation(correlationIdOfBody(m.body), () => handleOne(rt, m, handle))))
      failed.push(m.id);
  return { kind: 'messages', failed };
}

/** Whether the message is done with (handled, or dead-lettered). */
async function handleOne(
  rt: Runtime,
  m: InboundMessage,
  handle: (m: InboundMessage) => Promise<void>,
): Promise<boolean> {
  try {
    await handle(m);
    return true;
  } catch (err) {
    if (err instanceof PoisonMessageError && rt.deadLetters) {
      await rt.deadLetters.send(m.body, {
        attributes: {
          ...m.attributes,
          'zapas-reason': err.message.slice(0, 1024),
          'zapas-source-queue': m.queue,
        },
      });
      rt.log('message-dead-lettered', { id: m.id, reason: err.message }, 'warn');
      return true;
    }
    rt.log('message-failed', { id: m.id, error: (err as Error).message }, 'warn');
    return false;
  }
}
