/**
 * The orchestrate function: timers, platform messages (and the ingest stage's "all parts stored"), and
 * landing-bucket notifications, from AWS or Yandex Cloud. Every invocation ends by starting what may
 * start (priority, per-source exclusion, heavy slots, dependencies) and sending each started job on its
 * route: ingest parts, the verify queue, or an agent task. The environment: lib/infra/env.ts.
 */
import type { Job } from '../../lib/catalog/jobs';
import { ENV } from '../../lib/infra/env';
import { dispatchStarted } from '../../lib/pipeline/dispatch';
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { acceptLandingObject, commitIngest } from '../../lib/pipeline/ingest';
import { correlationIdOr, withCorrelation } from '../../lib/pipeline/log-context';
import { messageType, parseMessage, stageMessage } from '../../lib/pipeline/messages';
import { acceptMessage, requeueAbandoned, scheduleDue, startReady } from '../../lib/pipeline/orchestrate';
import { agentLauncher } from '../common/agent-launcher';
import { eachMessage } from '../common/batch';
import type { Runtime } from '../common/runtime';
import { type InvocationContext, stageHandler } from '../common/stage';

async function orchestrate(
  rt: Runtime,
  e: NormalizedEvent,
  context: InvocationContext,
): Promise<StageResult> {
  const now = new Date();
  let result: StageResult = { kind: 'done' };
  switch (e.kind) {
    case 'schedule':
      await requeueAbandoned(rt.config, rt.catalog, now);
      for (const job of await scheduleDue(rt.config, rt.catalog, now))
        withCorrelation(correlationIdOr(job.correlationId), () =>
          rt.log('job-scheduled', { job: job.id, source: job.source, trigger: job.trigger.ref }),
        );
      break;
    case 'messages':
      result = await eachMessage(rt, e.messages, async (m) => {
        if (messageType(m.body) === 'ingest-complete') {
          const { jobId } = parseMessage(stageMessage, m.body);
          const job = await commitJob(rt, jobId);
          if (job)
            rt.log(
              `job-${job.state}`,
              { job: job.id, source: job.source, snapshot: job.snapshotId, error: job.error },
              job.state === 'failed' ? 'error' : 'info',
            );
          return;
        }
        const { job, created } = await acceptMessage(rt.config, rt.catalog, m, now);
        if (created) rt.log('job-queued', { job: job.id, source: job.source, message: m.id });
      });
      break;
    case 'objects':
      for (const r of e.records) {
        if (r.event !== 'created') continue;
        const accepted = await acceptLandingObject(
          rt.config,
          rt.catalog,
          {
            bucket: r.bucket,
            key: r.key,
            ...(r.size !== undefined ? { size: r.size } : {}),
            ...(r.etag ? { etag: r.etag } : {}),
          },
          now,
        );
        if (!accepted)
          rt.log('landing-object-ignored', {
            bucket: r.bucket,
            key: r.key,
            reason: 'no export source has this prefix',
          });
        else if (accepted.created)
          rt.log('job-queued', { job: accepted.job.id, source: accepted.job.source, object: r.key });
      }
      break;
    case 'http':
      return { kind: 'http', status: 404, body: JSON.stringify({ error: 'HTTP goes to the api function' }) };
  }
  await startAndDispatch(rt, context, now);
  return result;
}

async function commitJob(rt: Runtime, jobId: string): Promise<Job | undefined> {
  const job = await rt.catalog.getJob(jobId);
  if (!job?.input) return job;
  const source = rt.config.sources[job.source];
  if (!source) return job;
  return commitIngest(
    {
      config: rt.config,
      catalog: rt.catalog,
      repo: await rt.repository(source.repository),
      landing: rt.landing(job.input.bucket),
      log: (line) => rt.log('ingest-warning', { job: jobId, message: line }),
      record: rt.security.record,
    },
    jobId,
  );
}

async function startAndDispatch(rt: Runtime, context: InvocationContext, now: Date): Promise<void> {
  const worker = `orchestrate:${context.awsRequestId ?? context.requestId ?? process.pid}`;
  const started = await startReady(rt.config, rt.catalog, worker, now);
  if (started.length === 0) return;
  const startAgent = agentLauncher(rt.env);
  const routes = await dispatchStarted(
    {
      config: rt.config,
      catalog: rt.catalog,
      landing: (bucket) => rt.landing(bucket),
      sendIngest: async (work) => {
        for (const w of work) await rt.queue('ingest').send(JSON.stringify({ type: 'ingest-part', ...w }));
      },
      sendVerify: async (jobId, correlationId) => {
        await rt.queue('verify').send(JSON.stringify({ type: 'run-job', jobId, correlationId }));
      },
      sendComplete: async (jobId, correlationId) => {
        await rt.queue('requests').send(JSON.stringify({ type: 'ingest-complete', jobId, correlationId }));
      },
      startAgent: (job) => startAgent(job, context),
      ...(rt.env[ENV.partBytes] ? { partBytes: Number(rt.env[ENV.partBytes]) } : {}),
    },
    started.map((s) => s.job),
  );
  for (const r of routes)
    withCorrelation(correlationIdOr(r.correlationId), () =>
      rt.log(
        r.error ? 'job-failed' : 'job-started',
        { job: r.job, route: r.route, ...(r.error ? { error: r.error } : {}) },
        r.error ? 'error' : 'info',
      ),
    );
}

export const handler = stageHandler('orchestrate', orchestrate);
