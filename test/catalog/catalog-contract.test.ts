import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { IllegalTransitionError, jobIdOf, type NewJob, StaleStateError } from '../../lib/catalog/jobs';
import type { Clock } from '../../lib/repo/clock';
import { useCatalogStores } from '../support/catalog-stores';
import { sweepExpired } from '../support/dynamo-server';

const stores = useCatalogStores();

/** A catalog under test, and what lets time pass for it: the store's own pruning at `now`. */
interface Subject {
  catalog: Catalog;
  expire(now: Date): Promise<void>;
}

const embedded = async (clock: Clock, file?: string): Promise<Subject> => {
  const catalog = stores.keep(await EmbeddedCatalog.open(file, { clock }));
  return { catalog, expire: async (now) => void catalog.prune(now) };
};

const adapters: [string, (clock: Clock) => Promise<Subject>][] = [
  [
    'DynamoDB (dynalite on loopback)',
    async (clock) => {
      const table = `zapas-${randomUUID().slice(0, 8)}`;
      const client = stores.client();
      const catalog = new DynamoCatalog(client, table, { clock });
      await catalog.ensureTable(client);
      // dynalite keeps expired items: the sweep does what DynamoDB's TTL does in the background.
      return { catalog, expire: async (now) => void (await sweepExpired(client, table, now)) };
    },
  ],
  ['embedded, in memory', (clock) => embedded(clock)],
  [
    'embedded, in a database file',
    async (clock) => {
      const dir = await stores.folder('zapas-catalog-');
      return embedded(clock, join(dir, 'catalog.db'));
    },
  ],
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
  let subject: Subject;
  let clockMs = 0;
  beforeEach(async () => {
    clockMs = Date.parse('2026-12-02T10:00:00Z');
    subject = await make({ now: () => new Date(clockMs) });
    catalog = subject.catalog;
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

  it('security records: compare-and-set by revision, one winner among racing writers, kinds kept apart', async () => {
    expect(await catalog.getRecord('totp', 'alice')).toBeUndefined();
    expect(await catalog.putRecord('totp', 'alice', { secret: 'sealed', __proto__: 1 }, 1)).toBe(false);
    expect(await catalog.putRecord('totp', 'alice', { secret: 'sealed' }, 0)).toBe(true);
    expect(await catalog.putRecord('totp', 'alice', { secret: 'other' }, 0)).toBe(false);
    expect(await catalog.getRecord('totp', 'alice')).toEqual({ value: { secret: 'sealed' }, revision: 1 });
    expect(await catalog.getRecord('lockout', 'alice')).toBeUndefined();
    const racers = await Promise.all(
      [1, 2, 3, 4].map((n) => catalog.putRecord('totp', 'alice', { secret: 'sealed', used: n }, 1)),
    );
    expect(racers.filter(Boolean)).toHaveLength(1);
    const after = await catalog.getRecord('totp', 'alice');
    expect(after?.revision).toBe(2);
    expect(await catalog.putRecord('totp', 'alice', { ...after!.value, used: 9 }, 2)).toBe(true);
    expect((await catalog.getRecord('totp', 'alice'))?.value.used).toBe(9);
    // A key that is an object's own machinery is a key like any other.
    expect(await catalog.putRecord('lockout', '__proto__', { until: 5 }, 0)).toBe(true);
    expect(await catalog.getRecord('lockout', '__proto__')).toEqual({ value: { until: 5 }, revision: 1 });
    expect(await catalog.getRecord('lockout', 'constructor')).toBeUndefined();
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

  it('prunes finished jobs once they ended longer ago than the period (30 days); keeps the rest', async () => {
    const day = 86_400_000;
    const t0 = clockMs;
    const at = (days: number) => new Date(t0 + days * day);
    const make = async (key: string) => (await catalog.createJob(spec(key), at(0))).job;
    const succeeded = await make('done');
    await catalog.transition(succeeded.id, 'queued', 'running', {}, at(0));
    await catalog.transition(succeeded.id, 'running', 'succeeded', { snapshotId: 's1' }, at(0));
    const cancelled = await make('cancelled');
    await catalog.transition(cancelled.id, 'queued', 'cancelled', {}, at(0));
    const late = await make('failed-later');
    await catalog.transition(late.id, 'queued', 'failed', { error: 'disk full' }, at(20));
    const queued = await make('waiting');
    const running = await make('running');
    await catalog.transition(running.id, 'queued', 'running', { worker: 'w' }, at(0));
    const part = { jobId: succeeded.id, index: 0, of: 1, offset: 0, length: 10, blobs: ['b'], worker: 'w' };
    await catalog.putPart(part);
    await catalog.updateSourceState('payments', {
      lastSnapshotId: 's1',
      lastSnapshotAt: at(0).toISOString(),
    });
    const hold = { source: 'payments', id: 'case-1', reason: 'court', createdBy: 'dpo', createdAt: 'then' };
    await catalog.putHold(hold);
    expect(await catalog.claimScheduleSlot('payments', '0 2 * * *', '2026-12-02T23:00Z')).toBe(true);
    const ids = async () => (await catalog.listJobs('payments')).map((j) => j.id).sort();

    await subject.expire(at(29));
    expect(await ids()).toEqual([succeeded.id, cancelled.id, late.id, queued.id, running.id].sort());

    await subject.expire(at(32));
    expect(await ids()).toEqual([late.id, queued.id, running.id].sort());
    expect(await catalog.getJob(succeeded.id)).toBeUndefined();
    expect(await catalog.getJob(cancelled.id)).toBeUndefined();
    expect(await catalog.listParts(succeeded.id)).toEqual([]);
    expect(await catalog.getSourceState('payments')).toMatchObject({ lastSnapshotId: 's1' });
    expect(await catalog.listHolds('payments')).toEqual([hold]);
    expect(await catalog.claimScheduleSlot('payments', '0 2 * * *', '2026-12-02T23:00Z')).toBe(false);
    // The key of a pruned job makes a new one.
    const again = await catalog.createJob(spec('done'), at(32));
    expect(again).toMatchObject({ created: true, job: { id: succeeded.id, state: 'queued', attempts: 0 } });

    await subject.expire(at(60));
    expect(await ids()).toEqual([succeeded.id, queued.id, running.id].sort());
    expect((await catalog.getJob(running.id))?.state).toBe('running');
  });
});
