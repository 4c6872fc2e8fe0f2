/**
 * The verify function: a verification job per message (structure, sampled or full read-back; the
 * restore test of a postgres source runs in the agent instead), its verdict recorded in the catalog.
 */
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { PoisonMessageError, parseMessage, stageMessage } from '../../lib/pipeline/messages';
import { eachMessage } from '../common/batch';
import { runStarted } from '../common/run-started';
import type { Runtime } from '../common/runtime';
import { stageHandler } from '../common/stage';

async function verify(rt: Runtime, e: NormalizedEvent): Promise<StageResult> {
  if (e.kind !== 'messages')
    throw new Error(`the verify function takes queue messages, not ${e.kind} events`);
  return eachMessage(rt, e.messages, async (m) => {
    const msg = parseMessage(stageMessage, m.body);
    if (msg.type !== 'run-job')
      throw new PoisonMessageError(`the verify queue takes run-job messages, not ${msg.type}`);
    await runStarted(rt, msg.jobId);
  });
}

export const handler = stageHandler('verify', verify);
