/**
 * The ingest (encrypt-chunks) function: one byte range of a landing object per message, stored as packs
 * and index (lib/pipeline/ingest.ts). The part that completes its job tells the orchestrator, which
 * commits the snapshot.
 */
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { ingestPart } from '../../lib/pipeline/ingest';
import { currentCorrelationId } from '../../lib/pipeline/log-context';
import { ingestWorkMessage, parseMessage } from '../../lib/pipeline/messages';
import { eachMessage } from '../common/batch';
import type { Runtime } from '../common/runtime';
import { type InvocationContext, stageHandler } from '../common/stage';

async function ingest(rt: Runtime, e: NormalizedEvent, context: InvocationContext): Promise<StageResult> {
  if (e.kind !== 'messages')
    throw new Error(`the ingest function takes queue messages, not ${e.kind} events`);
  return eachMessage(rt, e.messages, async (m) => {
    const { type: _, ...work } = parseMessage(ingestWorkMessage, m.body);
    const job = await rt.catalog.getJob(work.jobId);
    const source = job && rt.config.sources[job.source];
    if (!job || !source) return; // a job that is gone has nothing to store
    const started = Date.now();
    const r = await ingestPart(
      {
        config: rt.config,
        catalog: rt.catalog,
        repo: await rt.repository(source.repository),
        landing: rt.landing(work.bucket),
        worker: `ingest:${context.awsRequestId ?? context.requestId ?? process.pid}`,
      },
      work,
    );
    if (!r.stored) return;
    rt.log('ingest-part-stored', {
      job: work.jobId,
      part: work.index,
      of: work.parts,
      bytes: work.length,
      ms: Date.now() - started,
    });
    if (r.complete)
      await rt.queue('requests').send(
        JSON.stringify({
          type: 'ingest-complete',
          jobId: work.jobId,
          correlationId: currentCorrelationId(),
        }),
      );
  });
}

export const handler = stageHandler('ingest', ingest);
