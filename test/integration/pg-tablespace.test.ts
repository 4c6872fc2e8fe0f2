import { readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { lastJson } from '../support/cli';
import {
  makePgDir,
  makePgRepo,
  mkdirAsPg,
  PG_AVAILABLE,
  type PgRepo,
  RestoredServer,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';

const describePg = PG_AVAILABLE ? describe : describe.skip;

/**
 * A cluster with a tablespace outside its data directory: the base backup carries it, restore puts it
 * where --tablespace-mapping says (and rewrites the symlink), refuses a tablespace folder that is not
 * empty before writing anything, and verify restores it into scratch too.
 */
describePg('zapas pg with a tablespace', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let spaceDir = '';
  let oid = '';
  let snapshotId = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'saves' });
    spaceDir = join(await makePgDir('zapas-ts-'), 'saves');
    await mkdirAsPg(spaceDir);
    await cluster.sql(`CREATE TABLESPACE saves_space LOCATION '${spaceDir}'`);
    oid = await cluster.sql("SELECT oid FROM pg_tablespace WHERE spcname = 'saves_space'");
    await cluster.sql('CREATE TABLE saves (player int PRIMARY KEY, blob text) TABLESPACE saves_space');
    await cluster.sql('INSERT INTO saves SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 3000) g');
    const b = await zapasAsPg(repo, [
      'pg',
      'backup',
      '--source',
      'saves',
      '--pg',
      cluster.conninfo,
      '--json',
    ]);
    if (b.code !== 0) throw new Error(`pg backup failed: ${b.stderr}`);
    snapshotId = String(lastJson(b.stdout).snapshotId);
  }, 180_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('records the tablespace in the snapshot', async () => {
    const r = await zapasAsPg(repo, ['pg', 'backups', '--source', 'saves', '--json']);
    expect(r.code).toBe(0);
    const text = r.stdout;
    expect(text).toContain(spaceDir);
    expect(text).toContain(snapshotId);
  });

  it('refuses to restore over the live tablespace folder, before anything is written', async () => {
    const target = join(await makePgDir(), 'data');
    const r = await zapasAsPg(repo, ['pg', 'restore', '--source', 'saves', '--target', target]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(spaceDir);
    expect(r.stderr).toMatch(/not empty/);
    await expect(readdir(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('restores the tablespace where --tablespace-mapping says; the server reads its rows there', async () => {
    const target = join(await makePgDir(), 'data');
    const moved = join(await makePgDir('zapas-ts-moved-'), 'saves');
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'saves',
      '--target',
      target,
      '--tablespace-mapping',
      `${oid}=${moved}`,
      '--json',
    ]);
    if (r.code !== 0) throw new Error(`pg restore failed: ${r.stderr}`);
    expect(lastJson(r.stdout).tablespaces).toEqual([{ oid: Number(oid), location: moved }]);
    expect((await readdir(moved)).some((n) => n.startsWith('PG_15_'))).toBe(true);
    expect(await readlink(join(target, 'pg_tblspc', oid))).toBe(moved);
    const server = await RestoredServer.start(target, { env: repo.env });
    try {
      expect(await server.untilRecovered()).toBe('promoted');
      expect(
        await server.sql(
          "SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = 'saves_space'",
        ),
      ).toBe(moved);
      expect(await server.sql('SELECT count(*), sum(length(blob)) FROM saves')).toBe('3000|1920000');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await server.log()}`);
    } finally {
      await server.stop();
    }
    // The live cluster's tablespace is untouched.
    expect(await cluster.sql('SELECT count(*) FROM saves')).toBe('3000');
  }, 120_000);

  it('verify restores the tablespace into scratch and passes', async () => {
    const r = await zapasAsPg(repo, [
      'pg',
      'verify',
      '--source',
      'saves',
      '--sql',
      'SELECT count(*) = 3000 FROM saves',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);
});
