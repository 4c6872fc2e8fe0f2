/**
 * The stage functions' environment on loopback servers, for tests that call a built bundle: dynalite for
 * the catalog, fauxqs for the queues, s3rver for the repository (initialised), the variables a
 * deployment sets. Each `load` is a fresh instance of the bundle (its own runtime), so one test file can
 * run the same function under two configurations.
 */
import { join } from 'node:path';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { ENV, queueUrlEnv } from '../../lib/infra/env';
import type { QueueName } from '../../lib/infra/stages';
import { PasswordKeySlot } from '../../lib/keys/password';
import { SqsQueue } from '../../lib/pipeline/queues/sqs-queue';
import { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { WEAK_KDF_ENV } from '../support/repo';
import { type S3Server, startS3Server } from '../support/s3-server';
import { type SqsServer, startSqsServer } from '../support/sqs-servers';

export type Handler = (event: unknown, context?: unknown) => Promise<unknown>;

const PASSWORD = 'function environment test password';
const TABLE = 'zapas-functions';

export interface FunctionEnv {
  catalog: DynamoCatalog;
  /** The one repository's URL, for the configuration (`repositories.<name>.url`, with `endpoint`). */
  repository: { url: string; endpoint: string; residency: 'RU' };
  /** The repository as the CLI opens it (reading its audit trail). */
  openRepository(): Promise<Repository>;
  queues: Partial<Record<QueueName, SqsQueue>>;
  /** loadBundle: a new instance of a stage function with `config`. */
  load: typeof loadBundle;
  stop(): Promise<void>;
}

/**
 * A new instance of `dist/functions/<stage>` (its own runtime), configured with `config` (an object, or
 * YAML text) at its first invocation: the configuration is read from process.env then, so the first
 * calls of two instances must not overlap.
 */
export function loadBundle(stage: string, config: Record<string, unknown> | string): Handler {
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    handler = require(join(__dirname, '..', '..', 'dist', 'functions', stage, 'index.cjs')).handler;
  });
  let first = true;
  return (event, context) => {
    if (first) process.env[ENV.config] = typeof config === 'string' ? config : JSON.stringify(config);
    first = false;
    return handler!(event, context);
  };
}

/** Starts the servers and sets the environment; `queues` get a URL variable each (with a DLQ). */
export async function functionEnv(queues: readonly QueueName[] = []): Promise<FunctionEnv> {
  let dynamo: DynamoServer | undefined;
  let sqs: SqsServer | undefined;
  let s3: S3Server | undefined;
  const saved = { ...process.env };
  try {
    [dynamo, sqs, s3] = await Promise.all([startDynamoServer(), startSqsServer('json'), startS3Server()]);
    const catalog = new DynamoCatalog(dynamo.client(), TABLE);
    await catalog.ensureTable(dynamo.client());
    const storage = new S3Storage({
      bucket: s3.bucket,
      prefix: 'repo',
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
    });
    await Repository.init(storage, new PasswordKeySlot(PASSWORD, 10));
    const made: Partial<Record<QueueName, SqsQueue>> = {};
    const urls: Record<string, string> = {};
    for (const q of queues) {
      const dlq = await sqs.createQueue(`${q}-dlq`);
      const url = await sqs.createQueue(q, { deadLetterUrl: dlq, maxReceives: 5, visibilitySeconds: 30 });
      urls[queueUrlEnv(q)] = url;
      made[q] = new SqsQueue(sqs.client, url);
    }
    Object.assign(process.env, {
      [ENV.catalogTable]: TABLE,
      [ENV.dynamodbEndpoint]: dynamo.endpoint,
      [ENV.sqsEndpoint]: sqs.endpoint,
      [ENV.s3Endpoint]: s3.endpoint,
      [ENV.password]: PASSWORD,
      ...urls,
      ...WEAK_KDF_ENV,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    });
    const servers = { dynamo, sqs, s3 };
    return {
      catalog,
      repository: { url: `s3://${s3.bucket}/repo`, endpoint: s3.endpoint, residency: 'RU' },
      openRepository: () => Repository.open(storage, new PasswordKeySlot(PASSWORD, 10)),
      queues: made,
      load: loadBundle,
      async stop() {
        for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
        Object.assign(process.env, saved);
        await Promise.all([servers.dynamo.stop(), servers.sqs.stop(), servers.s3.stop()]);
      },
    };
  } catch (err) {
    process.env = saved;
    await Promise.all([dynamo?.stop(), sqs?.stop(), s3?.stop()]);
    throw err;
  }
}
