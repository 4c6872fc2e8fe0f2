import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { EmbeddedCatalog, PRUNE_INTERVAL_MS } from '../../lib/catalog/embedded-catalog';
import { CatalogError } from '../../lib/catalog/errors';
import type { NewJob } from '../../lib/catalog/jobs';
import { openDurable } from '../../lib/catalog/sqlite-file';
import { parseDuration } from '../../lib/policy/duration';
import { makeTempDir } from '../support/temp';

const spec = (key: string): NewJob => ({
  kind: 'backup',
  source: 'saves',
  trigger: { kind: 'schedule', ref: '*/15 * * * *' },
  priority: 7,
  idempotencyKey: key,
});
const DAY_MS = 86_400_000;

describe('embedded catalog in a file', () => {
  it('keeps every change and reads it back after reopening', async () => {
    const file = join(await makeTempDir(), 'state', 'catalog.db');
    const first = await EmbeddedCatalog.open(file);
    const { job } = await first.createJob(spec('slot-1'));
    await first.transition(job.id, 'queued', 'running', { worker: 'serve-1' });
    await first.acquireLease('source:saves', 'serve-1', 60_000);
    await first.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-02T10:15Z');
    first.close();
    const second = await EmbeddedCatalog.open(file);
    try {
      expect(await second.getJob(job.id)).toMatchObject({ state: 'running', worker: 'serve-1', attempts: 1 });
      expect(await second.acquireLease('source:saves', 'serve-2', 60_000)).toBeUndefined();
      expect(await second.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-02T10:15Z')).toBe(false);
      expect((await second.createJob(spec('slot-1'))).created).toBe(false);
    } finally {
      second.close();
    }
  });

  it('commits durably: write-ahead log, synced at every commit', async () => {
    const db = openDurable(join(await makeTempDir(), 'catalog.db'), 1000);
    try {
      expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      expect(db.prepare('PRAGMA synchronous').get()).toEqual({ synchronous: 2 }); // FULL
      expect(db.prepare('PRAGMA busy_timeout').get()).toEqual({ timeout: 1000 });
    } finally {
      db.close();
    }
  });

  it('the database and its -wal and -shm files are 0600 in a 0700 folder, whatever the umask', async () => {
    const dir = join(await makeTempDir(), 'state');
    const file = join(dir, 'catalog.db');
    const umask = process.umask(0);
    let catalog: EmbeddedCatalog | undefined;
    try {
      catalog = await EmbeddedCatalog.open(file);
      await catalog.createJob(spec('k'));
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) expect((await stat(f)).mode & 0o777).toBe(0o600);
    } finally {
      catalog?.close();
      process.umask(umask);
    }
  });

  it('tightens an existing database that others could read', async () => {
    const file = join(await makeTempDir(), 'catalog.db');
    (await EmbeddedCatalog.open(file)).close();
    await chmod(file, 0o644);
    (await EmbeddedCatalog.open(file)).close();
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses a file that is not a catalog, or one a newer zapas wrote, naming it and leaving it as it was', async () => {
    const dir = await makeTempDir();
    const garbage = join(dir, 'garbage.db');
    await writeFile(garbage, 'this is not a database, but it is long enough to have a header of sorts.');
    await expect(EmbeddedCatalog.open(garbage)).rejects.toBeInstanceOf(CatalogError);
    await expect(EmbeddedCatalog.open(garbage)).rejects.toThrow(
      `${garbage} is not a zapas catalog: file is not a database`,
    );
    expect(await readFile(garbage, 'utf8')).toMatch(/^this is not/);

    const foreign = join(dir, 'foreign.db');
    const other = new DatabaseSync(foreign);
    other.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
    other.close();
    const before = await readFile(foreign);
    await expect(EmbeddedCatalog.open(foreign)).rejects.toThrow(
      `${foreign} is a SQLite database of something else, not a zapas catalog`,
    );
    expect((await readFile(foreign)).equals(before)).toBe(true);

    const newer = join(dir, 'newer.db');
    (await EmbeddedCatalog.open(newer)).close();
    const raw = new DatabaseSync(newer);
    raw.exec('PRAGMA user_version = 3');
    raw.close();
    await expect(EmbeddedCatalog.open(newer)).rejects.toThrow(
      `${newer} has catalog layout 3, made by a newer zapas; this one reads layout 2`,
    );
  });

  it('a layout 1 catalog (before security records) is upgraded in place, its jobs kept', async () => {
    const file = join(await makeTempDir(), 'old.db');
    const old = await EmbeddedCatalog.open(file);
    const { job } = await old.createJob(spec('k1'));
    old.close();
    const raw = new DatabaseSync(file);
    raw.exec('DROP TABLE records');
    raw.exec('PRAGMA user_version = 1');
    raw.close();
    const upgraded = await EmbeddedCatalog.open(file);
    try {
      expect((await upgraded.getJob(job.id))?.id).toBe(job.id);
      expect(await upgraded.putRecord('lockout', 'alice', { until: 1 }, 0)).toBe(true);
      expect((await upgraded.getRecord('lockout', 'alice'))?.revision).toBe(1);
    } finally {
      upgraded.close();
    }
    const check = new DatabaseSync(file);
    expect(Number(check.prepare('PRAGMA user_version').get()?.user_version)).toBe(2);
    check.close();
  });
});

describe('embedded catalog retention', () => {
  it('deletes pruned jobs and their parts from the file, by a clock, with a configured period', async () => {
    const file = join(await makeTempDir(), 'catalog.db');
    let now = Date.parse('2026-12-02T10:00:00Z');
    const clock = { now: () => new Date(now) };
    const catalog = await EmbeddedCatalog.open(file, { clock, keepFinishedJobs: parseDuration('7d') });
    const { job } = await catalog.createJob(spec('old'));
    await catalog.putPart({
      jobId: job.id,
      index: 0,
      of: 1,
      offset: 0,
      length: 1,
      blobs: ['b'],
      worker: 'w',
    });
    await catalog.transition(job.id, 'queued', 'cancelled');
    const { job: kept } = await catalog.createJob(spec('queued'));
    now += 6 * DAY_MS;
    expect(catalog.prune()).toBe(0);
    now += 2 * DAY_MS;
    expect(catalog.prune()).toBe(1);
    catalog.close();
    const raw = new DatabaseSync(file, { readOnly: true });
    try {
      expect(raw.prepare('SELECT id FROM jobs').all()).toEqual([{ id: kept.id }]);
      expect(raw.prepare('SELECT count(*) AS n FROM parts').get()).toEqual({ n: 0 });
    } finally {
      raw.close();
    }
  });

  it('prunes by itself: when opened, and then at most once an interval, by the first change after it', async () => {
    const file = join(await makeTempDir(), 'catalog.db');
    let now = Date.parse('2026-12-02T10:00:00Z');
    const clock = { now: () => new Date(now) };
    const first = await EmbeddedCatalog.open(file, { clock });
    const { job: a } = await first.createJob(spec('a'));
    await first.transition(a.id, 'queued', 'failed', { error: 'x' });
    first.close();
    now += 31 * DAY_MS;
    const second = await EmbeddedCatalog.open(file, { clock });
    try {
      expect(await second.getJob(a.id)).toBeUndefined();
      // A job that ended long ago (as an imported one may have) waits for the next prune.
      const long = new Date(now - 40 * DAY_MS);
      const { job: b } = await second.createJob(spec('b'), long);
      await second.transition(b.id, 'queued', 'failed', { error: 'x' }, long);
      now += PRUNE_INTERVAL_MS / 2;
      await second.updateSourceState('saves', { lastError: 'x' });
      expect(await second.getJob(b.id)).toMatchObject({ state: 'failed' });
      now += PRUNE_INTERVAL_MS / 2;
      await second.updateSourceState('saves', { lastError: 'y' });
      expect(await second.getJob(b.id)).toBeUndefined();
    } finally {
      second.close();
    }
  });
});

describe('embedded catalog: a periodic prune that fails', () => {
  it('fails the change it came with before that change is made, so the error is the truth', async () => {
    const file = join(await makeTempDir(), 'catalog.db');
    let now = Date.parse('2026-12-02T10:00:00Z');
    const clock = { now: () => new Date(now) };
    const catalog = await EmbeddedCatalog.open(file, { clock });
    try {
      const { job } = await catalog.createJob(spec('old'));
      await catalog.transition(job.id, 'queued', 'failed', { error: 'x' });
      // Another tool's trigger refuses every delete: the prune fails, an insert would not.
      const other = new DatabaseSync(file);
      other.exec(
        "CREATE TRIGGER refuse BEFORE DELETE ON jobs BEGIN SELECT RAISE(ABORT, 'deletes refused'); END",
      );
      other.close();
      now += 31 * DAY_MS;
      await expect(catalog.createJob(spec('new'))).rejects.toThrow(/deletes refused/);
      expect(await catalog.listJobs('saves')).toEqual([expect.objectContaining({ id: job.id })]);
    } finally {
      catalog.close();
    }
  });
});
