/**
 * A correlation id across queue hops, with the built stage functions on loopback servers (dynalite,
 * fauxqs, s3rver): a platform message's id is on the log lines of each stage that handles its job, on
 * every message those stages send, and in the job records; a message without one gets a new one.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { PasswordKeySlot } from '../../lib/keys/password';
import { isCorrelationId } from '../../lib/pipeline/log-context';
import type { QueueMessage } from '../../lib/pipeline/queues/queue';
import { SqsQueue } from '../../lib/pipeline/queues/sqs-queue';
import { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { WEAK_KDF_ENV } from '../support/repo';
import { type S3Server, startS3Server } from '../support/s3-server';
import { type SqsServer, startSqsServer } from '../support/sqs-servers';

type Handler = (event: unknown, context?: unknown) => Promise<unknown>;
const bundle = (stage: string): Handler =>
  require(join(__dirname, '..', '..', 'dist', 'functions', stage, 'index.cjs')).handler;

const PASSWORD = 'correlation test password';
const MIB = 1024 * 1024;
let dynamo: DynamoServer;
let sqs: SqsServer;
let s3: S3Server;
let catalog: DynamoCatalog;
const queues: Record<string, SqsQueue> = {};
let landing: S3Storage;
let saved: NodeJS.ProcessEnv;
const fn: Record<string, Handler> = {};
let lines: Record<string, unknown>[] = [];
let spy: jest.SpyInstance;

function sqsEvent(queue: string, messages: { id: string; receipt: string; body: string }[]) {
  return {
    Records: messages.map((m) => ({
      messageId: m.id,
      receiptHandle: m.receipt,
      body: m.body,
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue}`,
      awsRegion: 'us-east-1',
    })),
  };
}

/** Everything on `queue` now: its messages, handed to `handler`, then deleted. */
async function deliver(queue: string, handler: Handler): Promise<QueueMessage[]> {
  const all: QueueMessage[] = [];
  for (;;) {
    const got = await queues[queue]!.receive({ max: 10, waitSeconds: 1 });
    if (got.length === 0) return all;
    all.push(...got);
    const r = (await handler(sqsEvent(queue, got))) as { batchItemFailures: unknown[] };
    expect(r.batchItemFailures).toEqual([]);
    for (const m of got) await queues[queue]!.delete(m.receipt);
  }
}

/** Lines of `event` (from `stage`) logged since the last call. */
const logged = (event: string, stage?: string) =>
  lines.filter((l) => l.event === event && (stage === undefined || l.stage === stage));

beforeAll(async () => {
  [dynamo, sqs, s3] = await Promise.all([startDynamoServer(), startSqsServer('json'), startS3Server()]);
  catalog = new DynamoCatalog(dynamo.client(), 'zapas-corr');
  await catalog.ensureTable(dynamo.client());
  const urls: Record<string, string> = {};
  for (const q of ['requests', 'ingest', 'verify', 'dead']) {
    urls[q] = await sqs.createQueue(q, { visibilitySeconds: 30 });
    queues[q] = new SqsQueue(sqs.client, urls[q]!);
  }
  const s3opts = { endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials };
  await Repository.init(
    new S3Storage({ bucket: s3.bucket, prefix: 'repo', ...s3opts }),
    new PasswordKeySlot(PASSWORD, 10),
  );
  landing = new S3Storage({ bucket: s3.bucket, ...s3opts });
  saved = { ...process.env };
  Object.assign(process.env, {
    ZAPAS_CONFIG: JSON.stringify({
      version: 1,
      repositories: { main: { url: `s3://${s3.bucket}/repo`, endpoint: s3.endpoint, residency: 'RU' } },
      sources: {
        catalogue: {
          type: 'export',
          service: 'catalog',
          landing: `s3://${s3.bucket}/exports/catalogue/`,
          repository: 'main',
          dataClass: 'game-content',
          events: ['export-ready'],
          verify: { schedule: 'after-each', depth: 'structure' },
        },
      },
    }),
    ZAPAS_CATALOG_TABLE: 'zapas-corr',
    ZAPAS_DYNAMODB_ENDPOINT: dynamo.endpoint,
    ZAPAS_SQS_ENDPOINT: sqs.endpoint,
    ZAPAS_S3_ENDPOINT: s3.endpoint,
    ZAPAS_QUEUE_REQUESTS_URL: urls.requests,
    ZAPAS_QUEUE_INGEST_URL: urls.ingest,
    ZAPAS_QUEUE_VERIFY_URL: urls.verify,
    ZAPAS_DLQ_URL: urls.dead,
    ZAPAS_INGEST_PART_BYTES: String(MIB),
    ZAPAS_PASSWORD: PASSWORD,
    ...WEAK_KDF_ENV,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  });
  for (const stage of ['orchestrate', 'ingest', 'verify']) fn[stage] = bundle(stage);
  // The functions log to stdout, one JSON object a line.
  spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const l of String(chunk).split('\n').filter(Boolean)) {
      try {
        lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    return true;
  });
}, 60_000);

afterAll(async () => {
  spy?.mockRestore();
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
  await Promise.all([dynamo?.stop(), sqs?.stop(), s3?.stop()]);
});

beforeEach(() => {
  lines = [];
});

const exportReady = (key: string, bytes: number, extra: Record<string, unknown> = {}) => ({
  id: `m-${key}`,
  receipt: 'r',
  body: JSON.stringify({
    type: 'export-ready',
    source: 'catalogue',
    at: `s3://${s3.bucket}/${key}`,
    bytes,
    ...extra,
  }),
});

describe('a correlation id across the stages', () => {
  it('set on a platform message: on every line and message of its job, then of the verify job it makes', async () => {
    const cid = 'platform-req-7f3a';
    const key = 'exports/catalogue/with-id.ndjson';
    const bytes = randomBytes(MIB + 4321);
    await landing.put(key, bytes);

    await fn.orchestrate!(sqsEvent('requests', [exportReady(key, bytes.length, { correlationId: cid })]));
    const [job] = await catalog.listJobs('catalogue');
    expect(job).toMatchObject({ state: 'running', correlationId: cid });
    for (const event of ['job-queued', 'job-started'])
      expect(logged(event, 'orchestrate').map((l) => l.correlationId)).toEqual([cid]);

    lines = [];
    const parts = await deliver('ingest', fn.ingest!);
    expect(parts).toHaveLength(2);
    for (const m of parts)
      expect(JSON.parse(m.body)).toMatchObject({ type: 'ingest-part', correlationId: cid });
    const stored = logged('ingest-part-stored', 'ingest');
    expect(stored).toHaveLength(2);
    for (const l of stored) expect(l.correlationId).toBe(cid);

    lines = [];
    const complete = await deliver('requests', fn.orchestrate!);
    expect(complete.map((m) => JSON.parse(m.body))).toEqual([
      { type: 'ingest-complete', jobId: job!.id, correlationId: cid },
    ]);
    expect(logged('job-succeeded', 'orchestrate').map((l) => l.correlationId)).toEqual([cid]);
    // after-each: the verify job, made and started by the same invocation, has the backup's id.
    const verifyJob = (await catalog.listJobs('catalogue')).find((j) => j.kind === 'verify');
    expect(verifyJob?.correlationId).toBe(cid);
    expect(logged('job-started', 'orchestrate').map((l) => [l.job, l.correlationId])).toEqual([
      [verifyJob!.id, cid],
    ]);

    lines = [];
    const runs = await deliver('verify', fn.verify!);
    expect(runs.map((m) => JSON.parse(m.body))).toEqual([
      { type: 'run-job', jobId: verifyJob!.id, correlationId: cid },
    ]);
    expect(logged('job-succeeded', 'verify').map((l) => l.correlationId)).toEqual([cid]);
    // Nothing the verify stage logged for it lacks the id.
    for (const l of lines) expect(l.correlationId).toBe(cid);
  }, 90_000);

  it('a message without one gets a new one, which its job and messages carry on', async () => {
    const key = 'exports/catalogue/without-id.ndjson';
    const bytes = randomBytes(1000);
    await landing.put(key, bytes);
    await fn.orchestrate!(sqsEvent('requests', [exportReady(key, bytes.length)]));
    const job = (await catalog.listJobs('catalogue')).find((j) => j.input?.key === key)!;
    expect(isCorrelationId(job.correlationId)).toBe(true);
    expect(logged('job-queued', 'orchestrate').map((l) => l.correlationId)).toEqual([job.correlationId]);
    const parts = await deliver('ingest', fn.ingest!);
    expect(parts.map((m) => JSON.parse(m.body).correlationId)).toEqual([job.correlationId]);
    await deliver('requests', fn.orchestrate!);
  }, 60_000);

  it('a malformed one (a line break, a quote) makes the message poison: dead-lettered, never echoed', async () => {
    const hostile = 'x"\n{"level":"fatal","msg":"forged"}';
    await fn.orchestrate!(
      sqsEvent('requests', [exportReady('exports/catalogue/bad.ndjson', 1, { correlationId: hostile })]),
    );
    const [dead] = await queues.dead!.receive({ waitSeconds: 2 });
    expect(dead?.attributes['zapas-reason']).toMatch(/^correlationId: a correlation id/);
    const line = logged('message-dead-lettered', 'orchestrate');
    expect(line).toHaveLength(1);
    expect(isCorrelationId(line[0]!.correlationId)).toBe(true);
    expect(lines.some((l) => l.msg === 'forged')).toBe(false);
  }, 30_000);
});
