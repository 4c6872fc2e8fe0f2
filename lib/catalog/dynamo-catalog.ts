/**
 * The catalog on DynamoDB or YDB's DynamoDB-compatible document API: one table, keys `pk`/`sk`, one
 * global index (`gsi1`, projection ALL: YDB takes no other) for a source's jobs by time. Only the
 * operations both serve: single-item conditional Put/Update/Delete, Get, Query. No transactions, no
 * PartiQL, no parallel scan. `ttl` (epoch seconds) lets the store delete what is done with: a lease a day
 * after it expired (leases are judged by `expiresAt`, never by whether TTL has run), a finished job and an
 * export's parts once the retention period has passed (retention.ts; the embedded catalog prunes alike).
 *
 * Items:  JOB#<id> / JOB            a job (gsi1: SOURCE#<source> / <createdAt>#<id>)
 *         LEASE#<name> / LEASE      a lease (owner, expiresAt)
 *         SOURCE#<source> / STATE   the source's state
 *         SOURCE#<source> / SLOT#<schedule>   the newest schedule slot with a job
 *         SOURCE#<source> / HOLD#<id>         a legal hold
 *         JOB#<id> / PART#<index>             an export job's stored part
 *         RECORD#<kind> / <key>               a security record (value, rev)
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Duration } from '../policy/duration';
import { type Clock, systemClock } from '../repo/clock';
import type { Catalog, Hold, IngestPart, Lease, RecordKind, SourceState, StoredRecord } from './catalog';
import {
  type Job,
  type JobPatch,
  type JobState,
  movedJob,
  type NewJob,
  newJobRecord,
  StaleStateError,
} from './jobs';
import { DEFAULT_JOB_RETENTION, prunableAtSeconds } from './retention';

export const GSI1 = 'gsi1';
/** How long after its expiry a lease item may be deleted by TTL. */
const LEASE_TTL_GRACE_SECONDS = 86_400;

export interface DynamoCatalogOptions {
  clock?: Clock;
  /** How long finished jobs are kept (default DEFAULT_KEEP_FINISHED_JOBS): their `ttl`. */
  keepFinishedJobs?: Duration;
}

export class DynamoCatalog implements Catalog {
  private readonly doc: DynamoDBDocumentClient;
  private readonly clock: Clock;
  private readonly keep: Duration;

  constructor(
    client: DynamoDBClient,
    readonly table: string,
    opts: DynamoCatalogOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.clock = opts.clock ?? systemClock;
    this.keep = opts.keepFinishedJobs ?? DEFAULT_JOB_RETENTION;
  }

  /** Creates the table when it is missing (tests, `zapas serve` on a local endpoint); the stacks make it in the cloud. */
  async ensureTable(client: DynamoDBClient): Promise<void> {
    try {
      await client.send(new DescribeTableCommand({ TableName: this.table }));
      return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    await client.send(
      new CreateTableCommand({
        TableName: this.table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: GSI1,
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  }

  async createJob(spec: NewJob, now = this.clock.now()): Promise<{ job: Job; created: boolean }> {
    const job = newJobRecord(spec, now);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: this.jobItem(job),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return { job, created: true };
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      const existing = await this.getJob(job.id);
      if (!existing) throw new Error(`job ${job.id} exists and cannot be read`, { cause: err });
      return { job: existing, created: false };
    }
  }

  async getJob(id: string): Promise<Job | undefined> {
    return (await this.readJob(id))?.job;
  }

  /** The job and its revision (bumped by every write: the condition of the next). */
  private async readJob(id: string): Promise<{ job: Job; rev: number } | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `JOB#${id}`, sk: 'JOB' }, ConsistentRead: true }),
    );
    return r.Item ? { job: jobOf(r.Item), rev: Number(r.Item.rev ?? 0) } : undefined;
  }

  async transition(
    id: string,
    from: JobState,
    to: JobState,
    patch: JobPatch = {},
    now = this.clock.now(),
  ): Promise<Job> {
    const read = await this.readJob(id);
    if (!read || read.job.state !== from) throw new StaleStateError(id, from, read?.job.state);
    const next = movedJob(read.job, to, patch, now);
    try {
      // The whole record is written back on the condition that nobody wrote it since it was read.
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: this.jobItem(next, read.rev + 1),
          ConditionExpression: '#state = :from AND rev = :seen',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':from': from, ':seen': read.rev },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
      throw new StaleStateError(id, from, (await this.getJob(id))?.state);
    }
    return next;
  }

  async listJobs(source: string, opts: { limit?: number; state?: JobState } = {}): Promise<Job[]> {
    const jobs: Job[] = [];
    await this.queryAll(
      {
        IndexName: GSI1,
        KeyConditionExpression: 'gsi1pk = :p',
        ExpressionAttributeValues: { ':p': `SOURCE#${source}` },
        ScanIndexForward: false,
      },
      (item) => {
        const job = jobOf(item);
        if (!opts.state || job.state === opts.state) jobs.push(job);
        return !opts.limit || jobs.length < opts.limit;
      },
    );
    return jobs;
  }

  /** Follows a Query's pages (1 MB each on YDB), item by item, until `each` answers false. */
  private async queryAll(
    input: Omit<ConstructorParameters<typeof QueryCommand>[0], 'TableName' | 'ExclusiveStartKey'>,
    each: (item: Record<string, unknown>) => boolean,
  ): Promise<void> {
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({ TableName: this.table, ...input, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      for (const item of r.Items ?? []) if (!each(item)) return;
      start = r.LastEvaluatedKey;
    } while (start);
  }

  async acquireLease(
    name: string,
    owner: string,
    ttlMs: number,
    now = this.clock.now(),
  ): Promise<Lease | undefined> {
    const lease: Lease = { name, owner, expiresAt: now.getTime() + ttlMs };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            pk: `LEASE#${name}`,
            sk: 'LEASE',
            ...lease,
            ttl: Math.ceil(lease.expiresAt / 1000) + LEASE_TTL_GRACE_SECONDS,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now.getTime(), ':me': owner },
        }),
      );
      return lease;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: `LEASE#${name}`, sk: 'LEASE' },
          ConditionExpression: '#owner = :me',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': owner },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConditionalCheckFailedException)) throw err;
    }
  }

  async getSourceState(source: string): Promise<SourceState | undefined> {
    const r = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { pk: `SOURCE#${source}`, sk: 'STATE' },
        ConsistentRead: true,
      }),
    );
    return r.Item ? (strip(r.Item) as unknown as SourceState) : undefined;
  }

  async updateSourceState(source: string, patch: Omit<Partial<SourceState>, 'source'>): Promise<SourceState> {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined);
    const names = Object.fromEntries(entries.map(([k], i) => [`#f${i}`, k]));
    const values = Object.fromEntries(entries.map(([, v], i) => [`:v${i}`, v]));
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `SOURCE#${source}`, sk: 'STATE' },
        UpdateExpression: `SET ${['#source = :source', ...entries.map((_, i) => `#f${i} = :v${i}`)].join(', ')}`,
        ExpressionAttributeNames: { '#source': 'source', ...names },
        ExpressionAttributeValues: { ':source': source, ...values },
      }),
    );
    // Read back rather than ReturnValues ALL_NEW: YDB's document API is narrower on ReturnValues.
    return (await this.getSourceState(source))!;
  }

  async claimScheduleSlot(source: string, schedule: string, slot: string): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: `SOURCE#${source}`, sk: `SLOT#${schedule}`, slot },
          ConditionExpression: 'attribute_not_exists(pk) OR slot < :slot',
          ExpressionAttributeValues: { ':slot': slot },
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async putPart(part: IngestPart): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: `JOB#${part.jobId}`,
          sk: `PART#${String(part.index).padStart(6, '0')}`,
          ...part,
          // Nothing rewrites a part when its job ends, so it expires counted from when it was stored;
          // its job's commit reads it well within the period.
          ttl: prunableAtSeconds(this.clock.now().toISOString(), this.keep),
        },
      }),
    );
  }

  async listParts(jobId: string): Promise<IngestPart[]> {
    const parts: IngestPart[] = [];
    await this.queryAll(
      {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :h)',
        ExpressionAttributeValues: { ':p': `JOB#${jobId}`, ':h': 'PART#' },
        ConsistentRead: true,
      },
      (item) => parts.push(strip(item) as unknown as IngestPart) > 0,
    );
    return parts.sort((a, b) => a.index - b.index);
  }

  async putHold(hold: Hold): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: `SOURCE#${hold.source}`, sk: `HOLD#${hold.id}`, ...hold },
      }),
    );
  }

  async listHolds(source: string): Promise<Hold[]> {
    const holds: Hold[] = [];
    await this.queryAll(
      {
        KeyConditionExpression: 'pk = :p AND begins_with(sk, :h)',
        ExpressionAttributeValues: { ':p': `SOURCE#${source}`, ':h': 'HOLD#' },
        ConsistentRead: true,
      },
      (item) => holds.push(strip(item) as unknown as Hold) > 0,
    );
    return holds;
  }

  async removeHold(source: string, id: string): Promise<boolean> {
    const r = await this.doc.send(
      new DeleteCommand({
        TableName: this.table,
        Key: { pk: `SOURCE#${source}`, sk: `HOLD#${id}` },
        ReturnValues: 'ALL_OLD',
      }),
    );
    return r.Attributes !== undefined;
  }

  async getRecord(kind: RecordKind, key: string): Promise<StoredRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: `RECORD#${kind}`, sk: key }, ConsistentRead: true }),
    );
    if (!r.Item) return undefined;
    return {
      value: JSON.parse(r.Item.value as string) as Record<string, unknown>,
      revision: Number(r.Item.rev),
    };
  }

  async putRecord(
    kind: RecordKind,
    key: string,
    value: Record<string, unknown>,
    expected: number,
  ): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          // The value as JSON text: its keys are kept as written, whatever they are.
          Item: { pk: `RECORD#${kind}`, sk: key, rev: expected + 1, value: JSON.stringify(value) },
          ...(expected === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'rev = :expected',
                ExpressionAttributeValues: { ':expected': expected },
              }),
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  /** A job's item; a finished one carries the `ttl` after which the store may delete it. */
  private jobItem(job: Job, rev = 0): Record<string, unknown> {
    return {
      pk: `JOB#${job.id}`,
      rev,
      sk: 'JOB',
      gsi1pk: `SOURCE#${job.source}`,
      gsi1sk: `${job.createdAt}#${job.id}`,
      ...(job.endedAt ? { ttl: prunableAtSeconds(job.endedAt, this.keep) } : {}),
      ...job,
    };
  }
}

function jobOf(item: Record<string, unknown>): Job {
  return strip(item) as unknown as Job;
}

const KEYS = new Set(['pk', 'sk', 'gsi1pk', 'gsi1sk', 'ttl', 'rev']);

function strip(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).filter(([k]) => !KEYS.has(k)));
}
