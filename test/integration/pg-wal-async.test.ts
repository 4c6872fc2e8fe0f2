import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ZAPAS_EXE } from '../support/cli';
import {
  makePgDir,
  makePgRepo,
  PG_AVAILABLE,
  type PgRepo,
  runAsPg,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';
import { fakeSegment } from '../support/wal-segments';

const describePg = PG_AVAILABLE ? describe : describe.skip;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** wal-push --async: a daemon archives ahead; archive_command answers 0 only once a file is durable. */
describePg('asynchronous WAL archiving (wal-push --async)', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let spool = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    spool = join(await makePgDir(), 'spool');
    cluster = await TestCluster.create({
      repo,
      conf: [
        'archive_mode = on',
        `archive_command = '${ZAPAS_EXE} pg wal-push --async --spool ${spool} --source async-db %p'`,
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('archives every segment through the daemon, each fetchable byte for byte', async () => {
    await cluster.sql('CREATE TABLE t (v text)');
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      await cluster.sql(`INSERT INTO t SELECT md5(g::text) FROM generate_series(1, 20000) g`);
      names.push(await cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())'));
      await cluster.sql('SELECT pg_switch_wal()');
    }
    for (let i = 0; i < 200; i++) {
      if (
        (await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= names.at(-1)!
      )
        break;
      await sleep(200);
    }
    expect(await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")).toBe(
      names.at(-1),
    );
    expect(await cluster.sql('SELECT failed_count FROM pg_stat_archiver')).toBe('0');
    const scratch = await makePgDir();
    for (const name of names) {
      const r = await zapasAsPg(repo, ['pg', 'wal-fetch', '--source', 'async-db', name, join(scratch, name)]);
      expect(r.code).toBe(0);
      const original = await readFile(join(cluster.dataDir, 'pg_wal', name)).catch(() => undefined);
      if (original) expect((await readFile(join(scratch, name))).equals(original)).toBe(true);
    }
    // The markers were consumed: the spool holds at most the daemon's pid file.
    expect((await readdir(spool)).filter((f) => f.endsWith('.ok'))).toEqual([]);
  });

  it('keeps one daemon while the server switches segments in a loop', async () => {
    let last = '';
    for (let i = 0; i < 30; i++) {
      await cluster.sql(`INSERT INTO t VALUES ('${i}')`);
      last = await cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
      await cluster.sql('SELECT pg_switch_wal()');
    }
    for (let i = 0; i < 300; i++) {
      if ((await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= last) break;
      await sleep(200);
    }
    expect(await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")).toBe(last);
    expect(await cluster.sql('SELECT failed_count FROM pg_stat_archiver')).toBe('0');
    // Every daemon that started held the lock (none lost a race), one after the other.
    const log = (await readFile(join(spool, 'daemon.log'), 'utf8')).split('\n');
    const events = log
      .map((l) => / pid (\d+) (started in daemon mode|holds the lock|exits after)/.exec(l))
      .filter(Boolean);
    const starts = events.filter((m) => m![2] === 'started in daemon mode').map((m) => m![1]);
    const holds = events.filter((m) => m![2] === 'holds the lock').map((m) => m![1]);
    expect(holds).toEqual(starts);
    let holding: string | undefined;
    for (const m of events) {
      if (m![2] === 'holds the lock') {
        expect(holding).toBeUndefined();
        holding = m![1];
      } else if (m![2] === 'exits after') holding = undefined;
    }
  });

  it('answers 1 with the reason when the daemon cannot archive (a different file under the same name)', async () => {
    const dir = await makePgDir();
    const name = '0000000100000000000000F1';
    const path = join(dir, name);
    // Two different files of this cluster under one name.
    const systemId = await cluster.sql('SELECT system_identifier FROM pg_control_system()');
    await writeFile(path, fakeSegment(name, systemId));
    expect((await zapasAsPg(repo, ['pg', 'wal-push', '--source', 'async-db', path])).code).toBe(0);
    await writeFile(path, fakeSegment(name, systemId));
    await runAsPg('mkdir', ['-p', join(dir, 'archive_status')]);
    await runAsPg('touch', [join(dir, 'archive_status', `${name}.ready`)]);
    const ownSpool = join(dir, 'spool');
    const r = await zapasAsPg(repo, [
      'pg',
      'wal-push',
      '--async',
      '--spool',
      ownSpool,
      '--source',
      'async-db',
      path,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`${name} not archived: ${name} is archived already with different content`),
    );
  });
});
