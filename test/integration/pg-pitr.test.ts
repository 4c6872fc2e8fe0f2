import { join } from 'node:path';
import { jsonLines, lastJson } from '../support/cli';
import {
  archiveNow,
  makePgDir,
  makePgRepo,
  PG_AVAILABLE,
  type PgRepo,
  RestoredServer,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';

const describePg = PG_AVAILABLE ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Point-in-time recovery end to end, against real clusters: a base backup, rows committed at known
 * moments, then restores to a second, an LSN, a restore point and a transaction id, each started as a
 * server that must hold exactly the rows committed before its target.
 */
describePg('zapas pg backup and point-in-time restore', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  const marks: { time?: string; lsn?: string; xid?: string } = {};
  let backupId = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'payments' });
    await cluster.sql('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await cluster.sql("INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1000, 6000) g");
    const b = await zapasAsPg(repo, [
      'pg',
      'backup',
      '--source',
      'payments',
      '--pg',
      cluster.conninfo,
      '--json',
    ]);
    if (b.code !== 0) throw new Error(`pg backup failed: ${b.stderr}`);
    backupId = String(lastJson(b.stdout).snapshotId);
    await cluster.sql('INSERT INTO orders VALUES (1, $$one$$)');
    await sleep(1100);
    marks.time = await cluster.sql(
      "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || 'Z'",
    );
    await sleep(1100);
    await cluster.sql('INSERT INTO orders VALUES (2, $$two$$)');
    marks.lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
    await cluster.sql('INSERT INTO orders VALUES (3, $$three$$)');
    await cluster.sql("SELECT pg_create_restore_point('before-4')");
    await cluster.sql('INSERT INTO orders VALUES (4, $$four$$)');
    // psql prints the command tag after the row: the id is the first line.
    marks.xid = (
      await cluster.sql('INSERT INTO orders VALUES (5, $$five$$) RETURNING pg_current_xact_id()::text')
    ).split('\n')[0];
    await cluster.sql('INSERT INTO orders VALUES (6, $$six$$)');
    await archiveNow(cluster);
  }, 180_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  /** Restores with `args`, starts a server on it, and returns the ids below 1000 it holds. */
  async function restoreAndRead(args: string[]): Promise<number[]> {
    const target = join(await makePgDir(), 'data');
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'payments',
      '--target',
      target,
      '--promote',
      ...args,
    ]);
    if (r.code !== 0) throw new Error(`pg restore failed: ${r.stderr}`);
    const server = await RestoredServer.start(target, { env: repo.env });
    try {
      expect(await server.untilRecovered()).toBe('promoted');
      const ids = await server.sql(
        "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM orders WHERE id < 1000",
      );
      expect(await server.sql('SELECT count(*) FROM orders WHERE id >= 1000')).toBe('5001');
      return ids === '' ? [] : ids.split(',').map(Number);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await server.log()}`);
    } finally {
      await server.stop();
    }
  }

  it('records the backup: label, LSNs, timeline, manifest', async () => {
    const r = await zapasAsPg(repo, ['snapshots', '--json']);
    const snaps = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)) as { id: string; tags: string[] }[];
    expect(snaps.some((s) => s.id === backupId && s.tags.includes('pg-base'))).toBe(true);
    const ls = await zapasAsPg(repo, ['ls', backupId]);
    expect(ls.stdout).toMatch(/\/base\/PG_VERSION/);
    expect(ls.stdout).toMatch(/\/base\/backup_manifest/);
    // The server archives its WAL: the backup's own WAL is in the archive, pg_wal/ is empty.
    expect(ls.stdout).toMatch(/^\/base\/pg_wal$/m);
  });

  it('to a chosen second: exactly the rows committed before it', async () => {
    expect(await restoreAndRead(['--time', marks.time!])).toEqual([1]);
  });

  it('to an LSN', async () => {
    expect(await restoreAndRead(['--lsn', marks.lsn!])).toEqual([1, 2]);
  });

  it('to a restore point', async () => {
    expect(await restoreAndRead(['--name', 'before-4'])).toEqual([1, 2, 3]);
  });

  it('to a transaction id (inclusive)', async () => {
    expect(await restoreAndRead(['--xid', marks.xid!])).toEqual([1, 2, 3, 4, 5]);
  });

  it('to the end of the archived WAL', async () => {
    expect(await restoreAndRead([])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a restored copy does not archive into the source (--archive-mode off, the default)', async () => {
    const target = join(await makePgDir(), 'data');
    const r = await zapasAsPg(repo, ['pg', 'restore', '--source', 'payments', '--target', target]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("archive_mode = 'off'");
    // Started as it is: the backup's own postgresql.conf archives into "payments".
    const copy = await RestoredServer.start(target, { env: repo.env, archive: true });
    try {
      expect(await copy.untilRecovered()).toBe('promoted');
      expect(await copy.sql('SELECT timeline_id FROM pg_control_checkpoint()')).toBe('2');
      expect(await copy.sql('SHOW archive_mode')).toBe('off');
      await copy.sql('INSERT INTO orders VALUES (900, $$written by the copy$$)');
      await copy.sql('SELECT pg_switch_wal()');
      await sleep(1000);
      expect(await copy.sql('SELECT archived_count + failed_count FROM pg_stat_archiver')).toBe('0');
    } finally {
      await copy.stop();
    }
    const listed = await zapasAsPg(repo, ['pg', 'backups', '--source', 'payments', '--json']);
    const timelines = jsonLines(listed.stdout)
      .filter((l) => l.messageType === 'wal')
      .map((l) => l.timeline);
    expect(timelines).toEqual([1]);
  });

  it('after a PITR: the new timeline archives on, is backed up, and restores (from its own backup and, following it, from the old one)', async () => {
    const target = join(await makePgDir(), 'data');
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'payments',
      '--target',
      target,
      '--promote',
      '--time',
      marks.time!,
      '--archive-mode',
      'preserve',
    ]);
    expect(r.code).toBe(0);
    // This one replaces the backed-up server and archives to the same source: its timeline 2 goes into
    // the archive beside timeline 1.
    const branch = await RestoredServer.start(target, { env: repo.env, archive: true });
    try {
      expect(await branch.untilRecovered()).toBe('promoted');
      expect(await branch.sql('SELECT timeline_id FROM pg_control_checkpoint()')).toBe('2');
      expect(await branch.sql('SHOW archive_mode')).toBe('on');
      await branch.sql('INSERT INTO orders VALUES (100, $$on timeline 2$$)');
      const b = await zapasAsPg(repo, [
        'pg',
        'backup',
        '--source',
        'payments',
        '--pg',
        branch.conninfo,
        '--type',
        'incr',
        '--json',
      ]);
      expect(b.code).toBe(0);
      expect(lastJson(b.stdout)).toMatchObject({ timeline: 2, type: 'incr', parent: expect.any(String) });
      await branch.sql('INSERT INTO orders VALUES (101, $$later on timeline 2$$)');
      const segment = await branch.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
      await branch.sql('SELECT pg_switch_wal()');
      for (let i = 0; i < 150; i++) {
        if ((await branch.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= segment)
          break;
        await sleep(200);
      }
    } finally {
      await branch.stop();
    }
    expect(await restoreAndRead([])).toEqual([1, 100, 101]);
    expect(await restoreAndRead(['--snapshot', backupId])).toEqual([1, 100, 101]);
  });
});
