import {
  DynamoDBClient,
  GetItemCommand,
  ProvisionedThroughputExceededException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { parseDuration } from '../../lib/policy/duration';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';

/** What YDB's document API serves (docs/catalog.md): the DynamoDB adapter must keep to it. */
const YDB_OPERATIONS = new Set([
  'CreateTableCommand',
  'DescribeTableCommand',
  'GetItemCommand',
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'QueryCommand',
]);

describe('DynamoDB adapter', () => {
  let server: DynamoServer;
  beforeAll(async () => {
    server = await startDynamoServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps to what YDB serves: single-item operations and Query, no consistent reads on the index, GSI projection ALL', async () => {
    const client = server.client();
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    // Every command passes the client's middleware stack, which the document client shares.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    const catalog = new DynamoCatalog(client, 'ydb-shape');
    await catalog.ensureTable(client);
    const { job } = await catalog.createJob({
      kind: 'backup',
      source: 's',
      trigger: { kind: 'http', ref: 'r' },
      priority: 1,
      idempotencyKey: 'k',
    });
    await catalog.createJob({
      kind: 'backup',
      source: 's',
      trigger: { kind: 'http', ref: 'r' },
      priority: 1,
      idempotencyKey: 'k',
    });
    await catalog.transition(job.id, 'queued', 'running');
    await catalog.listJobs('s');
    await catalog.acquireLease('l', 'o', 1000);
    await catalog.releaseLease('l', 'o');
    await catalog.updateSourceState('s', { lastSnapshotId: 'x' });
    await catalog.claimScheduleSlot('s', '0 3 * * *', '2026-12-02T00:00Z');
    await catalog.putHold({ source: 's', id: 'h', reason: 'r', createdBy: 'u', createdAt: 'now' });
    await catalog.listHolds('s');
    await catalog.removeHold('s', 'h');
    const names = new Set(sent.map((c) => c.name));
    // Everything the catalog did was seen: both kinds of read, every kind of write.
    expect(names).toEqual(
      new Set([
        'DescribeTableCommand',
        'CreateTableCommand',
        'PutItemCommand',
        'GetItemCommand',
        'QueryCommand',
        'DeleteItemCommand',
        'UpdateItemCommand',
      ]),
    );
    expect([...names].filter((n) => !YDB_OPERATIONS.has(n))).toEqual([]);
    for (const c of sent.filter((x) => x.name === 'QueryCommand' && x.input.IndexName))
      expect(c.input.ConsistentRead).toBeFalsy();
    const create = sent.find((c) => c.name === 'CreateTableCommand')!.input as {
      GlobalSecondaryIndexes: { Projection: { ProjectionType: string } }[];
      LocalSecondaryIndexes?: unknown;
    };
    expect(create.GlobalSecondaryIndexes.map((g) => g.Projection.ProjectionType)).toEqual(['ALL']);
    expect(create.LocalSecondaryIndexes).toBeUndefined();
    for (const c of sent.filter((x) => x.name === 'PutItemCommand'))
      expect(['NONE', 'ALL_OLD', undefined]).toContain(c.input.ReturnValues);
  });

  it('a throttled write is an error, never taken for "the job exists"', async () => {
    const client = new DynamoDBClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    const mock = mockClient(DynamoDBDocumentClient);
    mock
      .on(PutCommand)
      .rejects(new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }));
    const catalog = new DynamoCatalog(client, 't');
    await expect(
      catalog.createJob({
        kind: 'backup',
        source: 's',
        trigger: { kind: 'http', ref: 'r' },
        priority: 1,
        idempotencyKey: 'k',
      }),
    ).rejects.toThrow(/slow down/);
    await expect(catalog.acquireLease('l', 'o', 1000)).rejects.toThrow(/slow down/);
    mock.restore();
  });

  it('gives finished jobs and parts a ttl at the end of the retention period, unfinished jobs none', async () => {
    const client = server.client();
    const now = new Date('2026-12-02T10:00:00Z');
    const catalog = new DynamoCatalog(client, 'ttl-shape', {
      clock: { now: () => now },
      keepFinishedJobs: parseDuration('7d'),
    });
    await catalog.ensureTable(client);
    const ttlOf = async (pk: string, sk: string) =>
      (
        await client.send(
          new GetItemCommand({ TableName: 'ttl-shape', Key: { pk: { S: pk }, sk: { S: sk } } }),
        )
      ).Item?.ttl?.N;
    const spec = (key: string) => ({
      kind: 'backup' as const,
      source: 's',
      trigger: { kind: 'http' as const, ref: key },
      priority: 1,
      idempotencyKey: key,
    });
    const { job } = await catalog.createJob(spec('done'));
    expect(await ttlOf(`JOB#${job.id}`, 'JOB')).toBeUndefined();
    await catalog.transition(job.id, 'queued', 'running');
    expect(await ttlOf(`JOB#${job.id}`, 'JOB')).toBeUndefined();
    const ended = new Date('2026-12-03T00:00:00Z');
    await catalog.transition(job.id, 'running', 'failed', { error: 'x' }, ended);
    expect(Number(await ttlOf(`JOB#${job.id}`, 'JOB'))).toBe(ended.getTime() / 1000 + 7 * 86_400);
    // The ttl is a store attribute: never part of the job read back.
    expect(await catalog.getJob(job.id)).not.toHaveProperty('ttl');
    await catalog.putPart({ jobId: job.id, index: 0, of: 1, offset: 0, length: 1, blobs: [], worker: 'w' });
    expect(Number(await ttlOf(`JOB#${job.id}`, 'PART#000000'))).toBe(now.getTime() / 1000 + 7 * 86_400);
  });
});
