import { readFile, rm, writeFile } from 'node:fs/promises';
import { AuditLog, readCatalogHead } from '../../lib/audit/audit-log';
import { auditObjectName, sealEvent } from '../../lib/audit/audit-object';
import { eventHash, GENESIS_HASH } from '../../lib/audit/canonical';
import type { AuditEvent } from '../../lib/audit/event';
import { readAuditEvents } from '../../lib/audit/read-events';
import { verifyAuditTrail } from '../../lib/audit/verify';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { seal } from '../../lib/repo/crypto';
import { MissingObjectError } from '../../lib/repo/errors';
import type { Repository } from '../../lib/repo/repository';
import { ObjectExistsError } from '../../lib/storage/errors';
import type { PutData, PutOptions, Storage } from '../../lib/storage/storage';
import { flipBit } from '../support/damage';
import { makeTempRepo } from '../support/repo';
import { auditFile, entry, swapEvents } from './fixtures';

async function trailOf(n: number, opts: ConstructorParameters<typeof AuditLog>[1] = {}) {
  const made = await makeTempRepo();
  const log = new AuditLog(made.repo, opts);
  const events: AuditEvent[] = [];
  for (let i = 1; i <= n; i++) events.push(await log.append(entry(i)));
  return { ...made, log, events };
}

describe('AuditLog', () => {
  it('chains events: seq 1, 2, 3…, the first after 64 zeros, each after the hash of the one before', async () => {
    const { repo, events, storage } = await trailOf(3);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(events[0]!.prev).toBe(GENESIS_HASH);
    expect(events[1]!.prev).toBe(eventHash(events[0]));
    expect(events[2]!.prev).toBe(eventHash(events[1]));
    expect(await storage.head('audit/0000000000000002')).toBeDefined();
    expect(await verifyAuditTrail(repo)).toEqual({
      ok: true,
      events: 3,
      head: { seq: 3, hash: eventHash(events[2]) },
    });
  });

  it('seals each event: nothing of it is readable in storage', async () => {
    const { dir } = await trailOf(1);
    const bytes = await readFile(auditFile(dir, 1));
    expect(bytes.includes(Buffer.from('alice'))).toBe(false);
    expect(bytes.includes(Buffer.from('restore'))).toBe(false);
  });

  it('a new log on the same repository continues the chain (finds the head in storage)', async () => {
    const { repo, events } = await trailOf(5);
    const again = await new AuditLog(repo).append(entry(6));
    expect(again.seq).toBe(6);
    expect(again.prev).toBe(eventHash(events[4]));
    expect((await verifyAuditTrail(repo)).ok).toBe(true);
  });

  it('appends of one log made at once are ordered, none lost', async () => {
    const { repo } = await makeTempRepo();
    const log = new AuditLog(repo);
    const got = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry(i))));
    expect(got.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await verifyAuditTrail(repo)).toMatchObject({ ok: true, events: 20 });
  });

  it('several writers in parallel leave one chain holding every event once', async () => {
    const { repo } = await makeTempRepo();
    const catalog = await EmbeddedCatalog.open();
    // Counts the puts that lost the race: the test is only worth something if writers did collide.
    let lost = 0;
    const storage: Storage = Object.create(repo.storage, {
      put: {
        value: (name: string, data: PutData, opts?: PutOptions) =>
          repo.storage.put(name, data, opts).catch((err: unknown) => {
            if (err instanceof ObjectExistsError) lost++;
            throw err;
          }),
      },
    });
    const shared = { storage, keyring: repo.keyring, config: repo.config };
    const writers = Array.from({ length: 6 }, () => new AuditLog(shared, { catalog }));
    await Promise.all(
      writers.map(async (w, i) => {
        for (let j = 0; j < 15; j++) await w.append(entry(i * 100 + j));
      }),
    );
    const verdict = await verifyAuditTrail(repo, {
      catalogHead: await readCatalogHead(catalog, repo.config.id),
    });
    expect(verdict).toMatchObject({ ok: true, events: 90 });
    expect(lost).toBeGreaterThan(0);
    const seen: string[] = [];
    for await (const r of readAuditEvents(repo)) if ('event' in r) seen.push(r.event.correlationId);
    expect(seen.sort()).toEqual(
      writers.flatMap((_, i) => Array.from({ length: 15 }, (_, j) => `c-${i * 100 + j}`)).sort(),
    );
    // The catalog's head is the chain's last event, however the writers' updates interleaved.
    expect(await readCatalogHead(catalog, repo.config.id)).toEqual(verdict.head);
    catalog.close();
  });

  it('keeps the head in the catalog, compare-and-set, under the repository id', async () => {
    const catalog = await EmbeddedCatalog.open();
    const { repo, events } = await trailOf(2, { catalog });
    expect(await readCatalogHead(catalog, repo.config.id)).toEqual({ seq: 2, hash: eventHash(events[1]) });
    expect((await catalog.getRecord('audit-head', repo.config.id))?.revision).toBe(2);
    catalog.close();
  });

  it('refuses to append after a cut tail the catalog knows of (no silent rewrite of history)', async () => {
    const catalog = await EmbeddedCatalog.open();
    const { repo, storage } = await trailOf(3, { catalog });
    await storage.delete(auditObjectName(3));
    await expect(new AuditLog(repo, { catalog }).append(entry(9))).rejects.toThrow(MissingObjectError);
    catalog.close();
  });

  it('the time is the entry’s when given, else the clock’s', async () => {
    const { repo } = await makeTempRepo();
    const log = new AuditLog(repo, { now: () => new Date('2026-01-02T03:04:05.000Z') });
    expect((await log.append(entry(1))).time).toBe('2026-01-02T03:04:05.000Z');
    expect((await log.append(entry(2, { time: '2025-05-05T00:00:00.000Z' }))).time).toBe(
      '2025-05-05T00:00:00.000Z',
    );
  });
});

describe('verifyAuditTrail names the first bad event', () => {
  it('one event deleted: missing', async () => {
    const { repo, storage } = await trailOf(4);
    await storage.delete(auditObjectName(2));
    expect(await verifyAuditTrail(repo)).toMatchObject({
      ok: false,
      events: 1,
      problem: { kind: 'missing', seq: 2, object: 'audit/0000000000000002' },
    });
  });

  it('a byte flipped in an object: altered', async () => {
    const { repo, dir } = await trailOf(4);
    await flipBit(auditFile(dir, 3), 40);
    expect(await verifyAuditTrail(repo)).toMatchObject({
      ok: false,
      events: 2,
      problem: { kind: 'altered', seq: 3, object: 'audit/0000000000000003' },
    });
  });

  it('two swapped (each renamed into the other’s place): out of order', async () => {
    const { repo, dir } = await trailOf(4);
    await swapEvents(dir, 2, 3);
    const verdict = await verifyAuditTrail(repo);
    expect(verdict).toMatchObject({ ok: false, events: 1, problem: { kind: 'out-of-order', seq: 2 } });
    expect(verdict.problem!.detail).toContain('holds event 3');
  });

  it('an event forged with another key, in its right place and chain: altered', async () => {
    const { repo, events, storage } = await trailOf(3);
    const other = await makeTempRepo();
    const forged: AuditEvent = { ...events[1]!, outcome: 'denied' };
    await storage.delete(auditObjectName(2));
    await storage.put(auditObjectName(2), sealEvent(other.repo.keyring, forged));
    const verdict = await verifyAuditTrail(repo);
    expect(verdict).toMatchObject({ ok: false, events: 1, problem: { kind: 'altered', seq: 2 } });
    expect(verdict.problem!.detail).toMatch(/unknown data key/);
  });

  it('an event changed and sealed again with the repository key: the next link breaks', async () => {
    const { repo, events, storage } = await trailOf(3);
    await rewrite(repo, storage, { ...events[1]!, outcome: 'denied' });
    expect(await verifyAuditTrail(repo)).toMatchObject({
      ok: false,
      events: 2,
      problem: { kind: 'altered', seq: 3 },
    });
  });

  it('the last event changed and sealed again: caught by the catalog’s head', async () => {
    const catalog = await EmbeddedCatalog.open();
    const { repo, events, storage } = await trailOf(3, { catalog });
    await rewrite(repo, storage, { ...events[2]!, reason: 'nothing to see' });
    expect((await verifyAuditTrail(repo)).ok).toBe(true);
    const catalogHead = await readCatalogHead(catalog, repo.config.id);
    expect(await verifyAuditTrail(repo, { catalogHead })).toMatchObject({
      ok: false,
      problem: { kind: 'altered', seq: 3 },
    });
    catalog.close();
  });

  it('the tail cut while the catalog’s head points further: truncated', async () => {
    const catalog = await EmbeddedCatalog.open();
    const { repo, storage } = await trailOf(4, { catalog });
    await storage.delete(auditObjectName(4));
    await storage.delete(auditObjectName(3));
    // Without the catalog a cut tail looks like a shorter trail…
    expect((await verifyAuditTrail(repo)).ok).toBe(true);
    // …with it, the cut shows.
    const catalogHead = await readCatalogHead(catalog, repo.config.id);
    expect(await verifyAuditTrail(repo, { catalogHead })).toMatchObject({
      ok: false,
      events: 2,
      problem: { kind: 'truncated', seq: 3, object: 'audit/0000000000000003' },
    });
    catalog.close();
  });

  it('hostile objects: a stray name, and sealed JSON that is no event', async () => {
    const { repo, storage, dir } = await trailOf(2);
    await writeFile(`${dir}/audit/junk`, 'x');
    expect(await verifyAuditTrail(repo)).toMatchObject({
      ok: false,
      problem: { kind: 'unexpected', object: 'audit/junk' },
    });
    await rm(`${dir}/audit/junk`);
    await storage.delete(auditObjectName(2));
    const plain = Buffer.concat([Buffer.from([0]), Buffer.from('{"seq":2,"hello":"world"}')]);
    await storage.put(auditObjectName(2), seal(repo.keyring, plain, Buffer.from('zapas/audit/v1/2')));
    const verdict = await verifyAuditTrail(repo);
    expect(verdict).toMatchObject({ ok: false, problem: { kind: 'altered', seq: 2 } });
    expect(verdict.problem!.detail).toMatch(/not an audit event/);
  });

  it('an empty trail is whole', async () => {
    const { repo } = await makeTempRepo();
    expect(await verifyAuditTrail(repo)).toEqual({
      ok: true,
      events: 0,
      head: { seq: 0, hash: GENESIS_HASH },
    });
  });
});

/** Replaces an event with `changed`, sealed with the repository's own key (an insider's rewrite). */
async function rewrite(repo: Repository, storage: Repository['storage'], changed: AuditEvent) {
  await storage.delete(auditObjectName(changed.seq));
  await storage.put(auditObjectName(changed.seq), sealEvent(repo.keyring, changed));
}

describe('entries that would not read back as events', () => {
  it('are refused before anything is written', async () => {
    const { repo, storage } = await makeTempRepo();
    const log = new AuditLog(repo);
    await expect(log.append(entry(1, { target: { path: 'x'.repeat(5000) } }))).rejects.toThrow(
      /target\.path/,
    );
    await expect(log.append(entry(1, { correlationId: '' }))).rejects.toThrow(TypeError);
    expect(await storage.head(auditObjectName(1))).toBeUndefined();
    expect((await log.append(entry(2))).seq).toBe(1);
  });
});
