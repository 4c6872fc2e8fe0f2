import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { makeTempDir } from '../support/temp';

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
});

describe('embedded catalog', () => {
  it('persists every change to its file and reads it back after a restart', async () => {
    const file = join(await makeTempDir(), 'catalog', 'catalog.json');
    const first = await EmbeddedCatalog.open(file);
    const { job } = await first.createJob({
      kind: 'backup',
      source: 'saves',
      trigger: { kind: 'schedule', ref: '*/15 * * * *' },
      priority: 7,
      idempotencyKey: 'slot-1',
    });
    await first.transition(job.id, 'queued', 'running', { worker: 'serve-1' });
    await first.acquireLease('source:saves', 'serve-1', 60_000);
    await first.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-02T10:15Z');
    const second = await EmbeddedCatalog.open(file);
    expect(await second.getJob(job.id)).toMatchObject({ state: 'running', worker: 'serve-1', attempts: 1 });
    expect(await second.acquireLease('source:saves', 'serve-2', 60_000)).toBeUndefined();
    expect(await second.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-02T10:15Z')).toBe(false);
    expect(
      (
        await second.createJob({
          kind: 'backup',
          source: 'saves',
          trigger: { kind: 'schedule', ref: 'x' },
          priority: 7,
          idempotencyKey: 'slot-1',
        })
      ).created,
    ).toBe(false);
  });

  it('a damaged catalog file is named, not silently replaced by an empty one', async () => {
    const file = join(await makeTempDir(), 'catalog.json');
    await writeFile(file, '{"version":1,"jobs":{');
    await expect(EmbeddedCatalog.open(file)).rejects.toThrow(
      new RegExp(`catalog file ${file} is not valid JSON`),
    );
    await writeFile(file, '{"version":2}');
    await expect(EmbeddedCatalog.open(file)).rejects.toThrow(/has version 2, this zapas reads 1/);
  });
});
