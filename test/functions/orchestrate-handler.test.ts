import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { PasswordKeySlot } from '../../lib/keys/password';
import { SqsQueue } from '../../lib/pipeline/queues/sqs-queue';
import { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { type LocalIssuer, localIssuer } from '../api/local-issuer';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { WEAK_KDF_ENV } from '../support/repo';
import { type S3Server, startS3Server } from '../support/s3-server';
import { type SqsServer, startSqsServer } from '../support/sqs-servers';
import { loadBundle } from './function-env';

/** The bundled function, as the clouds load it. */
const bundle = (stage: string) => join(__dirname, '..', '..', 'dist', 'functions', stage, 'index.cjs');
const fixture = (cloud: string, name: string) =>
  JSON.parse(
    readFileSync(join(__dirname, '..', 'fixtures', 'events', cloud, `${name}.json`), 'utf8'),
  ) as Record<string, unknown>;

const CONFIG = `version: 1
repositories:
  main: { url: "s3://zapas-repo/main", residency: RU }
sources:
  payments:
    type: postgres
    conninfo: host=db
    repository: main
    dataClass: payment
    retention: { minimum: 5y }
    events: [backup-now]
    schedules: [{ cron: "0 2 * * *", timezone: Europe/Moscow, type: full }]
  saves:
    type: files
    paths: [/srv/saves]
    repository: main
    dataClass: game-content
    events: [backup-now]
  catalogue:
    type: export
    service: catalog
    landing: s3://zapas-landing/catalogue/
    repository: main
    dataClass: game-content
    events: [export-ready]
`;

const PASSWORD = 'orchestrate handler test password';

/**
 * The api function's: the same sources, with `auth:` (it serves nothing without), and the repository on
 * a live server (each backup asked for is in its audit trail before the job is made).
 */
const apiConfig = (s3: S3Server, issuer: LocalIssuer) =>
  `${CONFIG.replace(
    'main: { url: "s3://zapas-repo/main", residency: RU }',
    `main: { url: "s3://${s3.bucket}/main", endpoint: "${s3.endpoint}", residency: RU }`,
  )}auth: ${JSON.stringify(issuer.auth)}
`;

describe('orchestrate and api functions (dist/functions/<stage>/index.cjs) with events of both clouds', () => {
  let dynamo: DynamoServer;
  let sqs: SqsServer;
  let s3: S3Server;
  let issuer: LocalIssuer;
  let catalog: DynamoCatalog;
  let dlq: SqsQueue;
  let handler: (event: unknown) => Promise<unknown>;
  let api: (event: unknown) => Promise<unknown>;
  let saved: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    dynamo = await startDynamoServer();
    sqs = await startSqsServer('json');
    s3 = await startS3Server();
    issuer = await localIssuer();
    await Repository.init(
      new S3Storage({
        bucket: s3.bucket,
        prefix: 'main',
        endpoint: s3.endpoint,
        region: s3.region,
        credentials: s3.credentials,
      }),
      new PasswordKeySlot(PASSWORD, 10),
    );
    const client = dynamo.client();
    catalog = new DynamoCatalog(client, 'zapas-catalog');
    await catalog.ensureTable(client);
    const dlqUrl = await sqs.createQueue('orchestrate-dlq');
    dlq = new SqsQueue(sqs.client, dlqUrl);
    saved = { ...process.env };
    Object.assign(process.env, {
      ZAPAS_CONFIG: CONFIG,
      ZAPAS_CATALOG_TABLE: 'zapas-catalog',
      ZAPAS_DYNAMODB_ENDPOINT: dynamo.endpoint,
      ZAPAS_DLQ_URL: dlqUrl,
      ZAPAS_SQS_ENDPOINT: sqs.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      // Jobs these messages start are dispatched: nothing listens here, so they fail at once (and say so).
      ZAPAS_S3_ENDPOINT: 'http://127.0.0.1:9',
      ZAPAS_PASSWORD: PASSWORD,
      ...WEAK_KDF_ENV,
    });
    handler = require(bundle('orchestrate')).handler;
    api = loadBundle('api', apiConfig(s3, issuer));
  }, 30_000);

  afterAll(async () => {
    // The function reads its settings from the environment: other suites in this worker must not see them.
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    await dynamo?.stop();
    await sqs?.stop();
    await s3?.stop();
  });

  it('an SQS batch: a job per message, the same batch again makes none, no failures reported', async () => {
    const batch = fixture('aws', 'sqs-batch');
    // The fixture's second message is an export for "catalogue"; its first asks for "payments".
    expect(await handler(batch)).toEqual({ batchItemFailures: [] });
    expect(await handler(batch)).toEqual({ batchItemFailures: [] });
    expect((await catalog.listJobs('payments')).map((j) => j.trigger)).toEqual([
      { kind: 'message', ref: '059f36b4-87a3-44ab-83d2-661975830a7d' },
    ]);
    expect(await catalog.listJobs('catalogue')).toHaveLength(1);
  });

  it('a poison message goes to the dead-letter queue with its reason and is not reported as failed', async () => {
    const batch = fixture('aws', 'sqs-batch') as { Records: Record<string, unknown>[] };
    batch.Records = [
      { ...batch.Records[0]!, messageId: 'poison-1', body: '{"type":"backup-now","source":"nope"}' },
    ];
    expect(await handler(batch)).toEqual({ batchItemFailures: [] });
    const [dead] = await dlq.receive({ waitSeconds: 2 });
    expect(dead).toMatchObject({
      body: '{"type":"backup-now","source":"nope"}',
      attributes: { 'zapas-reason': 'source: no source "nope" in the configuration' },
    });
  });

  it('a Yandex Message Queue batch and a Yandex timer', async () => {
    expect(await handler(fixture('yandex', 'message-queue'))).toEqual({ statusCode: 200 });
    expect((await catalog.listJobs('saves')).map((j) => j.trigger.ref)).toEqual([
      'cce76685-5828-4304-a83d-95643c0507a0',
    ]);
    expect(await handler(fixture('yandex', 'timer'))).toEqual({ statusCode: 200 });
    const scheduled = (await catalog.listJobs('payments')).filter((j) => j.trigger.kind === 'schedule');
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]).toMatchObject({ type: 'full' });
  });

  it('HTTP from both clouds: a backup asked for, answered in the shape each expects', async () => {
    const authorization = await issuer.bearer({ roles: ['operator'] });
    const event = fixture('aws', 'http-api-v2');
    event.headers = { ...(event.headers as object), authorization };
    const aws = (await api(event)) as { statusCode: number; body: string };
    expect(aws.statusCode).toBe(202);
    expect(JSON.parse(aws.body)).toMatchObject({
      created: true,
      job: { source: 'payments', trigger: { kind: 'http' } },
    });
    const yc = fixture('yandex', 'http');
    yc.headers = { ...(yc.headers as object), 'Idempotency-Key': 'yc-1', Authorization: authorization };
    const first = (await api(yc)) as { statusCode: number; body: string };
    const again = (await api(yc)) as { statusCode: number; body: string };
    expect([first.statusCode, again.statusCode]).toEqual([202, 200]);
    expect(JSON.parse(again.body).job.id).toBe(JSON.parse(first.body).job.id);
    const missing = (await api({ ...yc, path: '/v1/sources/nope/backups' })) as { statusCode: number };
    expect(missing.statusCode).toBe(404);
  });

  it('an event from neither cloud is refused with what it looked like', async () => {
    await expect(handler({ detail: 'x' })).rejects.toThrow(/not an event zapas knows \(keys: detail\)/);
  });
});
