/**
 * The stage functions wired to loopback servers, as the cloud wires them: dynalite for the catalog,
 * fauxqs for the queues, s3rver for the landing bucket and the repository. Events travel as the clouds
 * deliver them (S3 notifications, SQS batches, timers); each function is its built bundle.
 * landing object → orchestrate → ingest parts (fan-out) → orchestrate commits → verify → purge.
 */

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readAuditEvents } from '../../lib/audit/read-events';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { PasswordKeySlot } from '../../lib/keys/password';
import type { QueueMessage } from '../../lib/pipeline/queues/queue';
import { SqsQueue } from '../../lib/pipeline/queues/sqs-queue';
import { checkRepository } from '../../lib/repo/check';
import { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { type LocalIssuer, localIssuer } from '../api/local-issuer';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { WEAK_KDF_ENV } from '../support/repo';
import { type S3Server, startS3Server } from '../support/s3-server';
import { type SqsServer, startSqsServer } from '../support/sqs-servers';

type Handler = (event: unknown, context?: unknown) => Promise<unknown>;
const bundle = (stage: string): Handler =>
  require(join(__dirname, '..', '..', 'dist', 'functions', stage, 'index.cjs')).handler;

const PASSWORD = 'stage functions e2e password';
const MIB = 1024 * 1024;

let dynamo: DynamoServer;
let sqs: SqsServer;
let s3: S3Server;
let catalog: DynamoCatalog;
const queues: Record<string, SqsQueue> = {};
let repoStorage: S3Storage;
let landing: S3Storage;
let saved: NodeJS.ProcessEnv;
let issuer: LocalIssuer;
const fn: Record<string, Handler> = {};

/** An SQS batch event (AWS shape) of received messages. */
function sqsEvent(queue: string, messages: QueueMessage[]) {
  return {
    Records: messages.map((m) => ({
      messageId: m.id,
      receiptHandle: m.receipt,
      body: m.body,
      attributes: { ApproximateReceiveCount: String(m.receiveCount), SentTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue}`,
      awsRegion: 'us-east-1',
    })),
  };
}

function s3Event(key: string, size: number, etag: string) {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: new Date().toISOString(),
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          bucket: { name: s3.bucket, arn: `arn:aws:s3:::${s3.bucket}` },
          object: { key: encodeURIComponent(key).replace(/%2F/g, '/'), size, eTag: etag },
        },
      },
    ],
  };
}

const timer = () => ({
  version: '0',
  id: `t-${Date.now()}`,
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: new Date().toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:000000000000:rule/zapas-dev-orchestrate'],
  detail: {},
});

/** Everything on `queue` now, handed to `handler` as SQS batches, then deleted as Lambda would. */
async function deliver(queue: string, handler: Handler): Promise<number> {
  let n = 0;
  for (;;) {
    const got = await queues[queue]!.receive({ max: 10, waitSeconds: 1 });
    if (got.length === 0) return n;
    n += got.length;
    const r = (await handler(sqsEvent(queue, got))) as { batchItemFailures: unknown[] };
    expect(r.batchItemFailures).toEqual([]);
    for (const m of got) await queues[queue]!.delete(m.receipt);
  }
}

beforeAll(async () => {
  [dynamo, sqs, s3] = await Promise.all([startDynamoServer(), startSqsServer('json'), startS3Server()]);
  catalog = new DynamoCatalog(dynamo.client(), 'zapas-e2e');
  await catalog.ensureTable(dynamo.client());
  const urls: Record<string, string> = {};
  for (const q of ['requests', 'ingest', 'verify']) {
    const dlq = await sqs.createQueue(`${q}-dlq`);
    urls[q] = await sqs.createQueue(q, { deadLetterUrl: dlq, maxReceives: 5, visibilitySeconds: 30 });
    queues[q] = new SqsQueue(sqs.client, urls[q]!);
  }
  const s3opts = { endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials };
  repoStorage = new S3Storage({ bucket: s3.bucket, prefix: 'repo', ...s3opts });
  landing = new S3Storage({ bucket: s3.bucket, ...s3opts });
  await Repository.init(repoStorage, new PasswordKeySlot(PASSWORD, 10));
  issuer = await localIssuer();
  saved = { ...process.env };
  Object.assign(process.env, {
    ZAPAS_CONFIG: JSON.stringify({
      version: 1,
      purge: { schedule: '* * * * *', grace: '0h' },
      // The api function serves nothing without it.
      auth: issuer.auth,
      repositories: { main: { url: `s3://${s3.bucket}/repo`, endpoint: s3.endpoint, residency: 'RU' } },
      sources: {
        catalogue: {
          type: 'export',
          service: 'catalog',
          landing: `s3://${s3.bucket}/exports/catalogue/`,
          repository: 'main',
          dataClass: 'game-content',
          retention: { keepLast: 1 },
          verify: { schedule: 'after-each', depth: 'full' },
        },
      },
    }),
    ZAPAS_CATALOG_TABLE: 'zapas-e2e',
    ZAPAS_DYNAMODB_ENDPOINT: dynamo.endpoint,
    ZAPAS_SQS_ENDPOINT: sqs.endpoint,
    ZAPAS_S3_ENDPOINT: s3.endpoint,
    ZAPAS_QUEUE_REQUESTS_URL: urls.requests,
    ZAPAS_QUEUE_INGEST_URL: urls.ingest,
    ZAPAS_QUEUE_VERIFY_URL: urls.verify,
    ZAPAS_INGEST_PART_BYTES: String(MIB),
    ZAPAS_PASSWORD: PASSWORD,
    ...WEAK_KDF_ENV,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  });
  for (const stage of ['orchestrate', 'ingest', 'verify', 'purge', 'api']) fn[stage] = bundle(stage);
}, 60_000);

afterAll(async () => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
  await Promise.all([dynamo?.stop(), sqs?.stop(), s3?.stop()]);
});

describe('stage functions on loopback servers: landing object → ingest fan-out → commit → verify → purge', () => {
  it('two exports become two snapshots, each verified, and the purge keeps the newest', async () => {
    const exports = [randomBytes(3 * MIB + 12345), randomBytes(2 * MIB)];
    const snapshotIds: string[] = [];
    for (const [i, bytes] of exports.entries()) {
      const key = `exports/catalogue/catalog ${i}.ndjson`;
      await landing.put(key, bytes);
      // The notification twice (at-least-once): one job.
      await fn.orchestrate!(s3Event(key, bytes.length, `"etag-${i}"`));
      await fn.orchestrate!(s3Event(key, bytes.length, `"etag-${i}"`));
      const jobs = (await catalog.listJobs('catalogue')).filter((j) => j.kind === 'backup');
      expect(jobs).toHaveLength(i + 1);
      expect(jobs[0]!.state).toBe('running');
      // Fan-out: one message per MiB; the ingest function stores them, the last says "complete".
      expect(await deliver('ingest', fn.ingest!)).toBe(Math.ceil(bytes.length / MIB));
      expect(await landing.head(key)).toBeDefined();
      expect(await deliver('requests', fn.orchestrate!)).toBe(1);
      const [done] = (await catalog.listJobs('catalogue')).filter((j) => j.kind === 'backup');
      expect(done).toMatchObject({ state: 'succeeded', input: { key } });
      snapshotIds.push(done!.snapshotId!);
      // The plaintext is gone only now, after the commit.
      expect(await landing.head(key)).toBeUndefined();
      // after-each: the verify job starts on the next orchestration and the verify function runs it.
      await fn.orchestrate!(timer());
      expect(await deliver('verify', fn.verify!)).toBe(1);
      const [verify] = (await catalog.listJobs('catalogue')).filter((j) => j.kind === 'verify');
      expect(verify?.state).toBe('succeeded');
      expect((await catalog.getSourceState('catalogue'))?.lastVerifyOk).toBe(true);
    }
    const repo = await Repository.open(repoStorage, new PasswordKeySlot(PASSWORD, 10));
    expect((await repo.listSnapshots()).map((s) => s.id).sort()).toEqual([...snapshotIds].sort());

    // The purge function on its timer: keepLast 1 forgets the older snapshot.
    await fn.purge!(timer());
    const left = await (
      await Repository.open(repoStorage, new PasswordKeySlot(PASSWORD, 10))
    ).listSnapshots();
    expect(left.map((s) => s.id)).toEqual([snapshotIds[1]]);
    // Each committed export, each verification (it reads backed-up data) and the purge are in the trail,
    // recorded by the function that did them as the service itself.
    const audited: string[] = [];
    for await (const e of readAuditEvents(
      await Repository.open(repoStorage, new PasswordKeySlot(PASSWORD, 10)),
    )) {
      if ('error' in e) throw e.error;
      audited.push(`${e.event.origin} ${e.event.principal.kind} ${e.event.action} ${e.event.outcome}`);
    }
    expect(audited).toEqual([
      'orchestrate system backup succeeded',
      'verify system read succeeded',
      'orchestrate system backup succeeded',
      'verify system read succeeded',
      'purge system delete allowed',
      'purge system delete succeeded',
    ]);
    const report = await checkRepository(
      await Repository.open(repoStorage, new PasswordKeySlot(PASSWORD, 10)),
      {
        readDataPercent: 100,
      },
    );
    expect(report.errors).toEqual([]);

    // And the API function shows the jobs.
    const res = (await fn.api!({
      version: '2.0',
      routeKey: '$default',
      rawPath: '/v1/sources/catalogue/jobs',
      rawQueryString: '',
      headers: { authorization: await issuer.bearer({ roles: ['auditor'] }) },
      requestContext: { http: { method: 'GET', path: '/v1/sources/catalogue/jobs' }, requestId: 'r1' },
      isBase64Encoded: false,
    })) as { statusCode: number; body: string };
    expect(res.statusCode).toBe(200);
    expect((JSON.parse(res.body) as { jobs: unknown[] }).jobs).toHaveLength(4);
  }, 120_000);
});
