/**
 * The orchestrate function: timers, platform messages and HTTP requests from AWS or Yandex Cloud, one
 * handler. It only adapts: the event is normalised, the stage functions do the work, the answer is shaped
 * for the cloud that asked. Configuration and clients come from the environment, once per instance:
 *   ZAPAS_CONFIG (the configuration as JSON or YAML text) or ZAPAS_CONFIG_FILE,
 *   ZAPAS_CATALOG_TABLE (+ ZAPAS_DYNAMODB_ENDPOINT for YDB or a local endpoint),
 *   ZAPAS_DLQ_URL (+ ZAPAS_SQS_ENDPOINT): where poison messages go, with their reason.
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { apiRoutes } from '../../lib/api/routes';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import type { ZapasConfig } from '../../lib/pipeline/config/schema';
import {
  type NormalizedEvent,
  normalizeEvent,
  type StageResult,
  shapeResult,
} from '../../lib/pipeline/events/normalize';
import { PoisonMessageError } from '../../lib/pipeline/messages';
import { acceptMessage, requestBackup, scheduleDue } from '../../lib/pipeline/orchestrate';
import type { Queue } from '../../lib/pipeline/queues/queue';
import { SqsQueue, sqsClient } from '../../lib/pipeline/queues/sqs-queue';

interface Runtime {
  config: ZapasConfig;
  catalog: Catalog;
  deadLetters?: Queue;
}

let runtime: Runtime | undefined;

function load(env: NodeJS.ProcessEnv): Runtime {
  const text =
    env.ZAPAS_CONFIG ?? (env.ZAPAS_CONFIG_FILE ? readFileSync(env.ZAPAS_CONFIG_FILE, 'utf8') : undefined);
  if (!text) throw new Error('set ZAPAS_CONFIG or ZAPAS_CONFIG_FILE');
  const config = parseConfig(text, env.ZAPAS_CONFIG_FILE ?? 'ZAPAS_CONFIG');
  const table = env.ZAPAS_CATALOG_TABLE;
  if (!table) throw new Error('set ZAPAS_CATALOG_TABLE');
  const dynamo = new DynamoDBClient(
    env.ZAPAS_DYNAMODB_ENDPOINT ? { endpoint: env.ZAPAS_DYNAMODB_ENDPOINT } : {},
  );
  const dlq = env.ZAPAS_DLQ_URL
    ? new SqsQueue(
        sqsClient(env.ZAPAS_SQS_ENDPOINT ? { endpoint: env.ZAPAS_SQS_ENDPOINT } : {}),
        env.ZAPAS_DLQ_URL,
      )
    : undefined;
  return { config, catalog: new DynamoCatalog(dynamo, table), ...(dlq ? { deadLetters: dlq } : {}) };
}

export async function handler(event: unknown): Promise<unknown> {
  runtime ??= load(process.env);
  const e = normalizeEvent(event);
  return shapeResult(e.cloud, await handle(runtime, e));
}

async function handle(rt: Runtime, e: NormalizedEvent): Promise<StageResult> {
  const now = new Date();
  switch (e.kind) {
    case 'schedule':
      await scheduleDue(rt.config, rt.catalog, now);
      return { kind: 'done' };
    case 'messages': {
      const failed: string[] = [];
      for (const m of e.messages) {
        try {
          await acceptMessage(rt.config, rt.catalog, m, now);
        } catch (err) {
          if (err instanceof PoisonMessageError && rt.deadLetters) {
            // Never retried: it goes to the dead-letter queue with its reason and counts as handled.
            await rt.deadLetters.send(m.body, {
              attributes: {
                ...m.attributes,
                'zapas-reason': err.message.slice(0, 1024),
                'zapas-source-queue': m.queue,
              },
            });
            continue;
          }
          failed.push(m.id);
        }
      }
      return { kind: 'messages', failed };
    }
    case 'http': {
      const app = apiRoutes({
        config: rt.config,
        catalog: rt.catalog,
        requestBackup: (source, key) => requestBackup(rt.config, rt.catalog, source, key),
        running: () => 0,
      });
      const query = new URLSearchParams(e.query).toString();
      const res = await app.fetch(
        new Request(`http://zapas${e.path}${query ? `?${query}` : ''}`, {
          method: e.method,
          headers: e.headers,
          ...(e.method === 'GET' || e.method === 'HEAD' ? {} : { body: e.body }),
        }),
      );
      return { kind: 'http', status: res.status, body: await res.text() };
    }
    case 'objects':
      // Landing objects are the ingest stage's (not built yet).
      return { kind: 'done' };
  }
}
