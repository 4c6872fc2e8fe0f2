import { lastJson } from '../support/cli';
import { makePgRepo, PG_AVAILABLE, type PgRepo, runAsPg, TestCluster, zapasAsPg } from '../support/postgres';

const describePg = PG_AVAILABLE ? describe : describe.skip;

/** Logical dumps: exclusions at dump time, selective restore of tables or schemas into other databases. */
describePg('zapas pg dump and restore-dump', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let dumpId = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create();
    await cluster.sql('CREATE DATABASE game');
    const setup = [
      'CREATE TABLE players (id int PRIMARY KEY, name text)',
      "INSERT INTO players SELECT g, 'player ' || g FROM generate_series(1, 5000) g",
      'CREATE TABLE sessions (id int, token text)',
      'INSERT INTO sessions SELECT g, md5(g::text) FROM generate_series(1, 100) g',
      'CREATE TABLE audit_log (id int, event text)',
      "INSERT INTO audit_log SELECT g, 'login' FROM generate_series(1, 300) g",
      'CREATE SCHEMA shop',
      'CREATE TABLE shop.items (sku text PRIMARY KEY, price numeric)',
      "INSERT INTO shop.items SELECT 'sku-' || g, g * 1.5 FROM generate_series(1, 40) g",
    ];
    for (const q of setup) await cluster.sql(q, { db: 'game' });
    const r = await zapasAsPg(repo, [
      'pg',
      'dump',
      '--source',
      'game-db',
      '--pg',
      cluster.conninfo,
      '--dbname',
      'game',
      '--exclude-table',
      'sessions',
      '--exclude-table-data',
      'audit_log',
      '--jobs',
      '2',
      '--json',
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
    dumpId = String(lastJson(r.stdout).snapshotId);
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  const restore = (args: string[]) =>
    zapasAsPg(repo, ['pg', 'restore-dump', '--source', 'game-db', '--pg', cluster.conninfo, ...args]);
  const tables = async (db: string) =>
    (
      await cluster.sql(
        "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
        { db },
      )
    ).split(',');

  it('stores the dump directory: toc.dat and one data file per table, no plaintext rows', async () => {
    const ls = await zapasAsPg(repo, ['ls', dumpId]);
    expect(ls.stdout).toMatch(/\/dump\/toc\.dat/);
    expect(ls.stdout).toMatch(/\/dump\/\d+\.dat/);
    const grep = await runAsPg('grep', ['-rl', 'player 4999', repo.dir]);
    expect(grep.stdout).toBe('');
  });

  it('restores everything into a new database, without the excluded table or the excluded rows', async () => {
    const r = await restore(['--target-db', 'copy_all', '--jobs', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await tables('copy_all')).toEqual(['public.audit_log', 'public.players', 'shop.items']);
    expect(await cluster.sql('SELECT count(*) FROM players', { db: 'copy_all' })).toBe('5000');
    expect(await cluster.sql('SELECT count(*) FROM audit_log', { db: 'copy_all' })).toBe('0');
    expect(await cluster.sql('SELECT sum(price) FROM shop.items', { db: 'copy_all' })).toBe('1230.0');
  });

  it('restores one table only, fetching only its data', async () => {
    const r = await restore(['--table', 'players', '--target-db', 'copy_players', '--json']);
    expect(r.code).toBe(0);
    expect(await tables('copy_players')).toEqual(['public.players']);
    expect(await cluster.sql('SELECT max(name) FROM players', { db: 'copy_players' })).toBe('player 999');
    const all = await restore(['--target-db', 'copy_again', '--json']);
    expect(lastJson<{ files: number }>(r.stdout).files).toBeLessThan(
      lastJson<{ files: number }>(all.stdout).files,
    );
  });

  it('restores one schema only', async () => {
    const r = await restore(['--schema', 'shop', '--target-db', 'copy_shop']);
    expect(r.code).toBe(0);
    expect(await tables('copy_shop')).toEqual(['shop.items']);
    expect(await cluster.sql('SELECT count(*) FROM shop.items', { db: 'copy_shop' })).toBe('40');
  });

  it('names a dump that does not exist, and a failing pg_restore', async () => {
    const none = await restore(['--snapshot', 'ffff0000', '--target-db', 'nope']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no logical dump ffff0000 of source "game-db"/);
    await cluster.sql('CREATE TABLE players (id int)', { db: 'copy_players' }).catch(() => undefined);
    const clash = await restore(['--table', 'players', '--target-db', 'copy_players']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/pg_restore failed: .*already exists/);
  });
});
