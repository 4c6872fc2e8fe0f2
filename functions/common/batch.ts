/**
 * A queue batch, message by message: a message that succeeds is done; one that can never succeed (a
 * PoisonMessageError: bad schema, unknown source) goes to the dead-letter queue with its reason and counts
 * as handled, so it is never retried forever; any other failure is reported as a partial batch failure
 * (the platform redelivers that message alone, and after maxReceives moves it to the DLQ itself).
 */
import type { InboundMessage, StageResult } from '../../lib/pipeline/events/normalize';
import { PoisonMessageError } from '../../lib/pipeline/messages';
import type { Runtime } from './runtime';

export async function eachMessage(
  rt: Runtime,
  messages: readonly InboundMessage[],
  handle: (m: InboundMessage) => Promise<void>,
): Promise<StageResult> {
  const failed: string[] = [];
  for (const m of messages) {
    try {
      await handle(m);
    } catch (err) {
      if (err instanceof PoisonMessageError && rt.deadLetters) {
        await rt.deadLetters.send(m.body, {
          attributes: {
            ...m.attributes,
            'zapas-reason': err.message.slice(0, 1024),
            'zapas-source-queue': m.queue,
          },
        });
        rt.log('message-dead-lettered', { id: m.id, reason: err.message });
        continue;
      }
      rt.log('message-failed', { id: m.id, error: (err as Error).message });
      failed.push(m.id);
    }
  }
  return { kind: 'messages', failed };
}
