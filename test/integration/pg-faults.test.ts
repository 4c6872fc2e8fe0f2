import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ZAPAS_BIN } from '../support/cli';
import {
  archiveNow,
  freePort,
  makePgDir,
  makePgRepo,
  NODE,
  PG_AVAILABLE,
  PG_BIN,
  type PgRepo,
  RestoredServer,
  runAsPg,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';
import { WEAK_KDF_ENV } from '../support/repo';

const describePg = PG_AVAILABLE ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bad input and faults around PostgreSQL: each gives a clear error, and nothing is lost or silently short. */
describePg('zapas pg: bad input and faults', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let backupStop = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'catalog' });
    await cluster.sql('CREATE TABLE games (id int, title text)');
    await cluster.sql("INSERT INTO games SELECT g, 'game ' || g FROM generate_series(1, 1000) g");
    await cluster.sql("CREATE ROLE reader LOGIN PASSWORD 'reader-secret'");
    await cluster.sql("CREATE ROLE backup LOGIN REPLICATION PASSWORD 'backup-secret'");
    const b = await zapasAsPg(repo, [
      'pg',
      'backup',
      '--source',
      'catalog',
      '--pg',
      cluster.conninfo,
      '--json',
    ]);
    if (b.code !== 0) throw new Error(b.stderr);
    backupStop = JSON.parse(b.stdout.trim().split('\n').at(-1)!).stopTime;
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  const backupWith = (conninfo: string, env: NodeJS.ProcessEnv = {}) =>
    zapasAsPg(repo, ['pg', 'backup', '--source', 'catalog', '--pg', conninfo], env);

  it('names an unreachable server', async () => {
    const port = await freePort();
    const r = await backupWith(`host=127.0.0.1 port=${port} user=postgres connect_timeout=3`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`cannot connect to PostgreSQL \\(127\\.0\\.0\\.1, port ${port}\\).*ECONNREFUSED`),
    );
  });

  it('names wrong credentials, and never prints the password', async () => {
    const r = await backupWith(`host=127.0.0.1 port=${cluster.port} user=backup dbname=postgres`, {
      PGPASSWORD: 'not-the-password',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/password authentication failed for user "backup"/);
    expect(r.stderr).not.toMatch(/not-the-password/);
  });

  it('refuses a password on the command line (exit 2)', async () => {
    const r = await backupWith(`host=127.0.0.1 port=${cluster.port} user=backup password=backup-secret`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password in --pg is visible in the process list/);
    expect(r.stderr).not.toMatch(/backup-secret/);
  });

  it('names a role without replication permission', async () => {
    const r = await backupWith(`host=127.0.0.1 port=${cluster.port} user=reader dbname=postgres`, {
      PGPASSWORD: 'reader-secret',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/role "reader" may not take base backups: it needs the REPLICATION attribute/);
  });

  it('takes a backup as a replication role over TCP with a password from PGPASSWORD', async () => {
    const r = await backupWith(`host=127.0.0.1 port=${cluster.port} user=backup dbname=postgres`, {
      PGPASSWORD: 'backup-secret',
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('refuses a target before the oldest backup, before writing anything', async () => {
    const target = join(await makePgDir(), 'data');
    const before = new Date(new Date(backupStop).getTime() - 3600_000).toISOString();
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'catalog',
      '--target',
      target,
      '--time',
      before,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is before the end of the oldest base backup/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a target after the newest archived WAL, before writing anything', async () => {
    const target = join(await makePgDir(), 'data');
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'catalog',
      '--target',
      target,
      '--time',
      later,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is after the newest archived WAL/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('refuses a target folder that is not empty', async () => {
    const dir = await makePgDir();
    await runAsPg('touch', [join(dir, 'precious')]);
    const r = await zapasAsPg(repo, ['pg', 'restore', '--source', 'catalog', '--target', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not empty/);
    expect(await readdir(dir)).toEqual(['precious']);
  });

  it('refuses a time without a zone (exit 2)', async () => {
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'catalog',
      '--target',
      '/nonexistent/x',
      '--time',
      '2026-01-01 10:00:00',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not a moment with its zone/);
  });

  it('a segment missing from the archive stops recovery at the gap, naming it; pg backups shows the gap', async () => {
    // A repository of its own: segment names repeat between clusters.
    const own = await makePgRepo();
    const holder = await TestCluster.create({ repo: own, source: 'gappy' });
    try {
      await holder.sql('CREATE TABLE t (id int)');
      const b = await zapasAsPg(own, ['pg', 'backup', '--source', 'gappy', '--pg', holder.conninfo]);
      expect(b.code).toBe(0);
      const segments: string[] = [];
      for (let i = 0; i < 3; i++) {
        await holder.sql(`INSERT INTO t VALUES (${i})`);
        segments.push(await archiveNow(holder));
      }
      const missing = segments[1]!;
      const found = await runAsPg('sh', ['-c', `find ${own.dir}/wal -name ${missing}`]);
      await runAsPg('rm', [found.stdout.trim()]);
      const listed = await zapasAsPg(own, ['pg', 'backups', '--source', 'gappy']);
      expect(listed.stdout).toMatch(new RegExp(`GAPS at ${missing}`));
      const target = join(await makePgDir(), 'data');
      const r = await zapasAsPg(own, ['pg', 'restore', '--source', 'gappy', '--target', target]);
      expect(r.code).toBe(0);
      const started = RestoredServer.start(target, { env: own.env });
      await expect(started).rejects.toThrow(
        new RegExp(`${missing} is missing from the archive.*a gap in the WAL`),
      );
    } finally {
      await holder.destroy();
    }
  });

  it('a damaged segment stops recovery, naming the object; a damaged newest one stops the restore itself', async () => {
    const own = await makePgRepo();
    const holder = await TestCluster.create({ repo: own, source: 'damaged' });
    try {
      await holder.sql('CREATE TABLE t (id int)');
      expect(
        (await zapasAsPg(own, ['pg', 'backup', '--source', 'damaged', '--pg', holder.conninfo])).code,
      ).toBe(0);
      await holder.sql('INSERT INTO t VALUES (1)');
      const first = await archiveNow(holder);
      await holder.sql('INSERT INTO t VALUES (2)');
      const second = await archiveNow(holder);
      const damage = async (segment: string) => {
        const found = (await runAsPg('sh', ['-c', `find ${own.dir}/wal -name ${segment}`])).stdout.trim();
        await runAsPg('sh', ['-c', `printf 'X' | dd of=${found} bs=1 seek=200 conv=notrunc 2>/dev/null`]);
      };
      await damage(first);
      const target = join(await makePgDir(), 'data');
      const restored = await zapasAsPg(own, ['pg', 'restore', '--source', 'damaged', '--target', target]);
      expect(restored.code).toBe(0);
      await expect(RestoredServer.start(target, { env: own.env })).rejects.toThrow(
        new RegExp(`cannot fetch ${first}: wal/[0-9a-f]+/00000001/${first}`),
      );
      await damage(second);
      const again = join(await makePgDir(), 'data');
      const refused = await zapasAsPg(own, ['pg', 'restore', '--source', 'damaged', '--target', again]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(new RegExp(`wal/[0-9a-f]+/00000001/${second}`));
      await expect(readdir(again)).rejects.toThrow(/ENOENT/);
    } finally {
      await holder.destroy();
    }
  });

  it('a server restarted during a base backup fails the backup clearly; no snapshot, the repository checks clean', async () => {
    const big = await TestCluster.create({ repo, source: 'restarted' });
    try {
      await big.sql(
        'CREATE TABLE blob AS SELECT g, md5(g::text) || repeat(md5(random()::text), 30) AS v FROM generate_series(1, 200000) g',
      );
      const before = (await zapasAsPg(repo, ['snapshots', '--json'])).stdout.trim().split('\n').length;
      const backup = runAsPg(
        NODE,
        [ZAPAS_BIN, 'pg', 'backup', '--source', 'restarted', '--pg', big.conninfo],
        {
          env: { ...repo.env, ...WEAK_KDF_ENV },
        },
      );
      // Restarted once the server is streaming the backup (a fixed sleep restarted it before the backup
      // connected on a loaded machine: a refused connection, not a backup cut short).
      for (let i = 0; i < 300; i++) {
        if ((await big.sql('SELECT count(*) FROM pg_stat_progress_basebackup')) !== '0') break;
        await sleep(100);
      }
      await runAsPg(
        join(PG_BIN, 'pg_ctl'),
        ['-D', big.dataDir, '-m', 'fast', '-w', 'restart', '-l', big.logPath()],
        {
          env: big.env,
        },
      );
      const r = await backup;
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/base backup|terminat|connection/i);
      const after = (await zapasAsPg(repo, ['snapshots', '--json'])).stdout.trim().split('\n').length;
      expect(after).toBe(before);
      const check = await zapasAsPg(repo, ['check']);
      expect(check.code).toBe(0);
    } finally {
      await big.destroy();
    }
  });
});
