import { randomUUID } from 'node:crypto';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { PoisonMessageError } from '../../lib/pipeline/messages';
import {
  acceptMessage,
  LEASE_MS,
  releaseJob,
  requeueAbandoned,
  scheduleDue,
  startReady,
} from '../../lib/pipeline/orchestrate';
import { startDynamoServer } from '../support/dynamo-server';

const CONFIG = parseConfig(`version: 1
timezone: Europe/Moscow
maxHeavyTasks: 1
repositories:
  main: { url: ./repo, residency: RU }
sources:
  saves:
    type: files
    paths: [./saves]
    repository: main
    dataClass: game-content
    priority: 7
    events: [backup-now]
    schedules: [{ cron: "*/15 * * * *" }]
  catalogue:
    type: files
    paths: [./catalogue]
    repository: main
    dataClass: game-content
    after: [saves]
    events: [backup-now]
  payments:
    type: postgres
    conninfo: host=/run/postgresql
    repository: main
    dataClass: payment
    priority: 9
    events: [backup-now]
    retention: { minimum: 5y }
    schedules: [{ cron: "0 2 * * *", type: full }]
  library:
    type: postgres
    conninfo: host=/run/postgresql
    repository: main
    dataClass: default
    priority: 3
    events: [backup-now]
`);

const at = (iso: string) => new Date(iso);
const msg = (source: string, id = randomUUID()) => ({
  id,
  body: JSON.stringify({ type: 'backup-now', source }),
});

describe('orchestrate', () => {
  let catalog: Catalog;
  beforeEach(async () => {
    catalog = await EmbeddedCatalog.open();
  });

  it('one job per schedule slot, in the configured zone; a missed slot runs once, not once per tick', async () => {
    const first = await scheduleDue(CONFIG, catalog, at('2026-12-02T10:07:00Z'));
    // saves' slot 10:00 UTC; payments' last 02:00 Moscow was 2026-12-01T23:00Z.
    expect(first.map((j) => [j.source, j.trigger.ref, j.type])).toEqual([
      ['saves', '*/15 * * * * @ 2026-12-02T10:00:00.000Z', undefined],
      ['payments', '0 2 * * * @ 2026-12-01T23:00:00.000Z', 'full'],
    ]);
    expect(await scheduleDue(CONFIG, catalog, at('2026-12-02T10:08:00Z'))).toEqual([]);
    const next = await scheduleDue(CONFIG, catalog, at('2026-12-02T10:15:00Z'));
    expect(next.map((j) => j.trigger.ref)).toEqual(['*/15 * * * * @ 2026-12-02T10:15:00.000Z']);
    // Two timers firing at once for the same slot.
    const both = await Promise.all(
      [1, 2].map(() => scheduleDue(CONFIG, catalog, at('2026-12-02T10:31:00Z'))),
    );
    expect(both.flat()).toHaveLength(1);
  });

  it('a message makes one job however often it is delivered; a poison message says why', async () => {
    const m = msg('saves');
    const a = await acceptMessage(CONFIG, catalog, m, new Date());
    const b = await acceptMessage(CONFIG, catalog, m, new Date());
    expect([a.created, b.created]).toEqual([true, false]);
    expect(b.job.id).toBe(a.job.id);
    await expect(acceptMessage(CONFIG, catalog, msg('nope'), new Date())).rejects.toThrow(/no source "nope"/);
    // A name every JavaScript object answers to is no source either (not the object's machinery).
    for (const name of ['constructor', 'toString', '__proto__'])
      await expect(acceptMessage(CONFIG, catalog, msg(name), new Date())).rejects.toThrow(
        new RegExp(`no source "${name}"`),
      );
    await expect(
      acceptMessage(
        CONFIG,
        catalog,
        { id: 'x', body: '{"type":"export-ready","source":"saves","at":"s3://b/k"}' },
        new Date(),
      ),
    ).rejects.toThrow(/does not take "export-ready"/);
    await expect(
      acceptMessage(CONFIG, catalog, { id: 'y', body: 'not json' }, new Date()),
    ).rejects.toBeInstanceOf(PoisonMessageError);
    await expect(
      acceptMessage(CONFIG, catalog, { id: 'z', body: '{"type":"restore-all"}' }, new Date()),
    ).rejects.toThrow(/type/);
  });

  it('starts by priority, one job per source at a time, heavy ones within the cap', async () => {
    const now = at('2026-12-02T10:00:00Z');
    for (const s of ['library', 'saves', 'payments', 'saves'])
      await acceptMessage(CONFIG, catalog, msg(s), now);
    const started = await startReady(CONFIG, catalog, 'w1', now);
    // payments (9) takes the only heavy slot; library (3, heavy) waits; one of the two saves jobs runs.
    expect(started.map((d) => [d.job.source, d.runner])).toEqual([
      ['payments', 'agent'],
      ['saves', 'function'],
    ]);
    expect(await startReady(CONFIG, catalog, 'w2', now)).toEqual([]);
    const payments = started[0]!.job;
    await catalog.transition(payments.id, 'running', 'succeeded', {}, now);
    await releaseJob(CONFIG, catalog, payments);
    expect((await startReady(CONFIG, catalog, 'w2', now)).map((d) => d.job.source)).toEqual(['library']);
  });

  it('a source waits for the sources it runs after, and fails when one of them failed', async () => {
    const now = at('2026-12-02T10:00:00Z');
    const saves = (await acceptMessage(CONFIG, catalog, msg('saves'), now)).job;
    const cat = (await acceptMessage(CONFIG, catalog, msg('catalogue'), now)).job;
    expect((await startReady(CONFIG, catalog, 'w', now)).map((d) => d.job.source)).toEqual(['saves']);
    expect(await startReady(CONFIG, catalog, 'w', now)).toEqual([]);
    await catalog.transition(saves.id, 'running', 'succeeded', {}, now);
    await releaseJob(CONFIG, catalog, saves);
    expect((await startReady(CONFIG, catalog, 'w', now)).map((d) => d.job.id)).toEqual([cat.id]);

    const later = at('2026-12-02T10:05:00Z');
    const failing = (await acceptMessage(CONFIG, catalog, msg('saves'), later)).job;
    await startReady(CONFIG, catalog, 'w', later);
    await catalog.transition(failing.id, 'running', 'failed', { error: 'disk full' }, later);
    await releaseJob(CONFIG, catalog, failing);
    const late = (await acceptMessage(CONFIG, catalog, msg('catalogue'), later)).job;
    await catalog.transition(cat.id, 'running', 'succeeded', {}, later);
    await releaseJob(CONFIG, catalog, cat);
    await startReady(CONFIG, catalog, 'w', later);
    expect(await catalog.getJob(late.id)).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/waits for "saves".*failed/),
    });
  });

  it('a job whose worker died is queued again once its lease runs out, and runs again', async () => {
    const t0 = at('2026-12-02T10:00:00Z');
    const { job } = await acceptMessage(CONFIG, catalog, msg('saves'), t0);
    await startReady(CONFIG, catalog, 'w-dead', t0);
    expect(await requeueAbandoned(CONFIG, catalog, new Date(t0.getTime() + LEASE_MS - 1000))).toEqual([]);
    const back = await requeueAbandoned(CONFIG, catalog, new Date(t0.getTime() + LEASE_MS + 1000));
    expect(back.map((j) => [j.id, j.state])).toEqual([[job.id, 'queued']]);
    const again = await startReady(CONFIG, catalog, 'w-new', new Date(t0.getTime() + LEASE_MS + 2000));
    expect(again.map((d) => [d.job.id, d.job.attempts, d.job.worker])).toEqual([[job.id, 2, 'w-new']]);
  });
});

describe('orchestrate on DynamoDB: two orchestrators at once', () => {
  it('start a job once, and make one job of one message', async () => {
    const server = await startDynamoServer();
    try {
      const client = server.client();
      const catalog = new DynamoCatalog(client, `orch-${randomUUID().slice(0, 8)}`);
      await catalog.ensureTable(client);
      const m = msg('saves');
      const now = new Date();
      const made = await Promise.all([1, 2].map(() => acceptMessage(CONFIG, catalog, m, now)));
      expect(made.filter((x) => x.created)).toHaveLength(1);
      const runs = await Promise.all(['a', 'b'].map((w) => startReady(CONFIG, catalog, w, now)));
      expect(runs.flat()).toHaveLength(1);
      expect((await catalog.getJob(made[0]!.job.id))!.attempts).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
