import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { IllegalTransitionError, jobIdOf, type NewJob, StaleStateError } from '../../lib/catalog/jobs';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';

let server: DynamoServer;
let client: DynamoDBClient;

beforeAll(async () => {
  server = await startDynamoServer();
  client = server.client();
});
afterAll(async () => {
  await server?.stop();
});

const adapters: [string, () => Promise<Catalog>][] = [
  [
    'DynamoDB (dynalite on loopback)',
    async () => {
      const catalog = new DynamoCatalog(client, `zapas-${randomUUID().slice(0, 8)}`);
      await catalog.ensureTable(client);
      return catalog;
    },
  ],
  ['embedded', () => EmbeddedCatalog.open()],
];

const spec = (key: string, over: Partial<NewJob> = {}): NewJob => ({
  kind: 'backup',
  source: 'payments',
  trigger: { kind: 'message', ref: key },
  priority: 5,
  idempotencyKey: key,
  ...over,
});

/** One contract, both adapters: what the stages rely on must hold on DynamoDB/YDB and on one machine. */
describe.each(adapters)('catalog contract: %s', (_name, make) => {
  let catalog: Catalog;
  beforeEach(async () => {
    catalog = await make();
  });

  it('the same idempotency key makes one job, however often and however concurrently it comes', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => catalog.createJob(spec('msg-1'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([jobIdOf('msg-1')]));
    const again = await catalog.createJob(spec('msg-1'));
    expect(again.created).toBe(false);
    expect(again.job).toEqual(results.find((r) => r.created)!.job);
    expect(await catalog.listJobs('payments')).toHaveLength(1);
  });

  it('moves a job through its states, counting attempts and stamping times', async () => {
    const { job } = await catalog.createJob(spec('m'), new Date('2026-12-02T10:00:00Z'));
    expect(job).toMatchObject({ state: 'queued', attempts: 0, createdAt: '2026-12-02T10:00:00.000Z' });
    const running = await catalog.transition(
      job.id,
      'queued',
      'running',
      { worker: 'w1' },
      new Date('2026-12-02T10:00:01Z'),
    );
    expect(running).toMatchObject({
      state: 'running',
      attempts: 1,
      worker: 'w1',
      startedAt: '2026-12-02T10:00:01.000Z',
    });
    const retried = await catalog.transition(job.id, 'running', 'queued', { error: 'worker lost' });
    expect(retried.worker).toBeUndefined();
    await catalog.transition(job.id, 'queued', 'running', { worker: 'w2' });
    await catalog.transition(job.id, 'running', 'committing');
    const done = await catalog.transition(job.id, 'committing', 'succeeded', { snapshotId: 'abc' });
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2, snapshotId: 'abc' });
    expect(done.endedAt).toBeDefined();
    expect(await catalog.getJob(job.id)).toEqual(done);
  });

  it('two workers racing for one queued job: exactly one wins, the other gets StaleStateError', async () => {
    const { job } = await catalog.createJob(spec('race'));
    const outcomes = await Promise.allSettled(
      ['w1', 'w2', 'w3'].map((w) => catalog.transition(job.id, 'queued', 'running', { worker: w })),
    );
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const o of outcomes.filter((x) => x.status === 'rejected'))
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(StaleStateError);
    expect((await catalog.getJob(job.id))!.attempts).toBe(1);
  });

  it('refuses moves the machine forbids, and moves from a state the job is not in', async () => {
    const { job } = await catalog.createJob(spec('bad'));
    await expect(catalog.transition(job.id, 'queued', 'succeeded')).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    await expect(catalog.transition(job.id, 'running', 'committing')).rejects.toThrow(
      /is queued, not running/,
    );
    await catalog.transition(job.id, 'queued', 'cancelled');
    await expect(catalog.transition(job.id, 'cancelled', 'queued')).rejects.toThrow(/from cancelled.*final/);
    await expect(catalog.transition('j-missing', 'queued', 'running')).rejects.toThrow(/is missing/);
    expect((await catalog.getJob(job.id))!.state).toBe('cancelled');
  });

  it("lists a source's jobs newest first, by state, with a limit", async () => {
    for (let i = 0; i < 5; i++)
      await catalog.createJob(spec(`k${i}`), new Date(Date.UTC(2026, 11, 2, 10, i)));
    await catalog.createJob(spec('other', { source: 'saves' }));
    const jobs = await catalog.listJobs('payments');
    expect(jobs.map((j) => j.trigger.ref)).toEqual(['k4', 'k3', 'k2', 'k1', 'k0']);
    await catalog.transition(jobs[1]!.id, 'queued', 'cancelled');
    expect((await catalog.listJobs('payments', { state: 'cancelled' })).map((j) => j.trigger.ref)).toEqual([
      'k3',
    ]);
    expect((await catalog.listJobs('payments', { limit: 2 })).map((j) => j.trigger.ref)).toEqual([
      'k4',
      'k3',
    ]);
  });

  it('a lease is held by one owner at a time, renewable by it, free once expired or released', async () => {
    const t = new Date('2026-12-02T10:00:00Z');
    const later = (ms: number) => new Date(t.getTime() + ms);
    const grabs = await Promise.all(
      ['a', 'b', 'c'].map((o) => catalog.acquireLease('source:payments', o, 60_000, t)),
    );
    const winners = grabs.filter((g) => g !== undefined);
    expect(winners).toHaveLength(1);
    const owner = winners[0]!.owner;
    const other = owner === 'a' ? 'b' : 'a';
    expect(await catalog.acquireLease('source:payments', other, 60_000, later(30_000))).toBeUndefined();
    expect(await catalog.acquireLease('source:payments', owner, 60_000, later(30_000))).toMatchObject({
      expiresAt: later(90_000).getTime(),
    });
    await catalog.releaseLease('source:payments', other); // not its lease: nothing happens
    expect(await catalog.acquireLease('source:payments', other, 60_000, later(60_000))).toBeUndefined();
    expect(await catalog.acquireLease('source:payments', other, 60_000, later(90_001))).toMatchObject({
      owner: other,
    });
    await catalog.releaseLease('source:payments', other);
    expect(await catalog.acquireLease('source:payments', owner, 1000, later(90_002))).toMatchObject({
      owner,
    });
  });

  it('a schedule slot is claimed once: two timers for the same slot make one job', async () => {
    const claims = await Promise.all(
      [1, 2, 3].map(() => catalog.claimScheduleSlot('payments', '0 2 * * *', '2026-12-02T23:00Z')),
    );
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await catalog.claimScheduleSlot('payments', '0 2 * * *', '2026-12-01T23:00Z')).toBe(false);
    expect(await catalog.claimScheduleSlot('payments', '0 2 * * *', '2026-12-03T23:00Z')).toBe(true);
    expect(await catalog.claimScheduleSlot('payments', '0 */4 * * *', '2026-12-02T23:00Z')).toBe(true);
  });

  it('source state merges patches (the recovery point), and holds are kept per source', async () => {
    expect(await catalog.getSourceState('saves')).toBeUndefined();
    await catalog.updateSourceState('saves', {
      lastSnapshotAt: '2026-12-02T10:00:00Z',
      lastSnapshotId: 's1',
    });
    const s = await catalog.updateSourceState('saves', {
      lastFailureAt: '2026-12-02T11:00:00Z',
      lastError: 'disk full',
    });
    expect(s).toEqual({
      source: 'saves',
      lastSnapshotAt: '2026-12-02T10:00:00Z',
      lastSnapshotId: 's1',
      lastFailureAt: '2026-12-02T11:00:00Z',
      lastError: 'disk full',
    });
    expect(await catalog.getSourceState('saves')).toEqual(s);
    const hold = {
      source: 'saves',
      id: 'case-17',
      reason: 'court order 17',
      createdBy: 'dpo',
      createdAt: '2026-12-02T12:00:00Z',
    };
    await catalog.putHold(hold);
    await catalog.putHold({ ...hold, id: 'case-18', snapshots: ['s1'] });
    expect((await catalog.listHolds('saves')).map((h) => h.id)).toEqual(['case-17', 'case-18']);
    expect(await catalog.listHolds('payments')).toEqual([]);
    expect(await catalog.removeHold('saves', 'case-17')).toBe(true);
    expect(await catalog.removeHold('saves', 'case-17')).toBe(false);
    expect(await catalog.listHolds('saves')).toEqual([{ ...hold, id: 'case-18', snapshots: ['s1'] }]);
  });

  it("keeps an export job's input and its stored parts by index; a part stored twice is one part", async () => {
    const input = { bucket: 'landing', key: 'exports/saves/2026-12-02.ndjson', size: 300, etag: '"e1"' };
    const { job } = await catalog.createJob(spec('ingest-1', { input }));
    expect((await catalog.getJob(job.id))?.input).toEqual(input);
    const part = (index: number, blobs: string[]) => ({
      jobId: job.id,
      index,
      of: 3,
      offset: index * 100,
      length: 100,
      blobs,
      worker: `w${index}`,
    });
    await catalog.putPart(part(2, ['c']));
    await catalog.putPart(part(0, ['a']));
    await catalog.putPart(part(0, ['a']));
    await catalog.putPart({ ...part(1, ['b']), jobId: 'j-other' });
    expect(await catalog.listParts(job.id)).toEqual([part(0, ['a']), part(2, ['c'])]);
    expect(await catalog.listParts('j-none')).toEqual([]);
  });
});
