import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonLines, lastJson } from '../support/cli';
import { makePgRepo, PG_AVAILABLE, type PgRepo, TestCluster, zapasAsPg } from '../support/postgres';

const describePg = PG_AVAILABLE ? describe : describe.skip;

/** A short --archive-timeout, so that the failing cases fail fast. */
const SHORT_TIMEOUT = '3s';
const SHORT_TIMEOUT_MS = 3_000;
/**
 * pg backup's: long enough for the server's own notice, which it sends once it has waited 5 s
 * (do_pg_backup_stop in PostgreSQL's xlog.c).
 */
const BACKUP_TIMEOUT = '8s';
const BACKUP_TIMEOUT_MS = 8_000;

/**
 * Archiving that does not work is named, not waited on: pg check proves archive_command delivers into the
 * repository, pg backup gives up on a server that cannot archive its WAL, and a second cluster is refused
 * from a source that belongs to another.
 */
describePg('broken WAL archiving is found and named', () => {
  let repo: PgRepo;
  let good: TestCluster;
  let broken: TestCluster;
  let intruder: TestCluster;

  beforeAll(async () => {
    repo = await makePgRepo();
    good = await TestCluster.create({ repo, source: 'orders' });
    broken = await TestCluster.create({ repo, conf: ['archive_mode = on', "archive_command = 'false'"] });
    // Another cluster whose archive_command pushes into the good one's source.
    intruder = await TestCluster.create({ repo, source: 'orders' });
  }, 120_000);

  afterAll(async () => {
    await good?.destroy();
    await broken?.destroy();
    await intruder?.destroy();
  });

  const systemIdOf = (c: TestCluster) => c.sql('SELECT system_identifier FROM pg_control_system()');
  /** A base backup of the cluster whose archive_command always fails. */
  const backupBroken = () =>
    zapasAsPg(repo, [
      'pg',
      'backup',
      '--source',
      'broken',
      '--pg',
      broken.conninfo,
      '--archive-timeout',
      BACKUP_TIMEOUT,
    ]);

  it('pg check passes when archive_command delivers into the repository', async () => {
    // The source belongs to the good cluster from its first segment on.
    const first = await zapasAsPg(repo, [
      'pg',
      'check',
      '--source',
      'orders',
      '--pg',
      good.conninfo,
      '--json',
    ]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const result = lastJson(first.stdout);
    expect(result).toMatchObject({ source: 'orders', systemId: await systemIdOf(good) });
    expect(String(result.segment)).toMatch(/^[0-9A-F]{24}$/);
    const again = await zapasAsPg(repo, ['pg', 'check', '--source', 'orders', '--pg', good.conninfo]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^archiving works: the server's [0-9A-F]{24} reached source "orders"/);
    expect(again.stdout).not.toContain(String(result.segment)); // a new segment each time
  });

  it('pg check fails with the reason when archive_command fails', async () => {
    const started = Date.now();
    const r = await zapasAsPg(repo, [
      'pg',
      'check',
      '--source',
      'broken',
      '--pg',
      broken.conninfo,
      '--archive-timeout',
      SHORT_TIMEOUT,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /zapas: [0-9A-F]{24} did not reach source "broken" within 3 s \(--archive-timeout\): archive_command failed \d+ time\(s\) meanwhile, last for [0-9A-F]{24} at /,
    );
    expect(Date.now() - started).toBeLessThan(SHORT_TIMEOUT_MS + 10_000);
  });

  it('pg backup gives up when the server cannot archive the WAL it needs, naming why, within the timeout', async () => {
    const started = Date.now();
    const r = await backupBroken();
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /zapas: the server waited \d+ s for the WAL this backup needs to be archived, none was archived for 8 s \(--archive-timeout\): archive_command failed \d+ time\(s\) meanwhile, last for [0-9A-F]{24}.*The backup was cancelled; nothing was saved\./,
    );
    // What the server said while it waited is passed on: its own notice, and what its archiver reports.
    expect(r.stderr).toMatch(/warning: the server says: .*waiting for required WAL segments to be archived/);
    expect(r.stderr).toMatch(
      /warning: the server is waiting for the backup's WAL to be archived: archive_command failed/,
    );
    expect(elapsed).toBeLessThan(BACKUP_TIMEOUT_MS + 15_000);
    const snapshots = await zapasAsPg(repo, ['snapshots', '--source', 'broken', '--json']);
    expect(jsonLines(snapshots.stdout).filter((s) => s.messageType !== 'summary')).toEqual([]);
    // The server does not go on waiting with a WAL sender for a backup nobody reads.
    let senders = '';
    for (let i = 0; i < 50; i++) {
      senders = await broken.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'");
      if (senders === '0') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(senders).toBe('0');
  }, 60_000);

  it('pg backup still gives up when its watching connection is ended under it', async () => {
    const started = Date.now();
    const backup = backupBroken();
    // An administrator (or the server) ends zapas's ordinary connection while the backup waits (not
    // before: ended while zapas reads the server's facts, the backup rightly fails on the spot).
    for (let i = 0; i < 300; i++) {
      const phase = await broken.sql('SELECT phase FROM pg_stat_progress_basebackup');
      if (phase === 'waiting for wal archiving to finish') break;
      await new Promise((res) => setTimeout(res, 100));
    }
    let ended = '0';
    for (let i = 0; i < 50 && ended === '0'; i++) {
      await new Promise((res) => setTimeout(res, 100));
      ended = await broken.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'zapas' AND backend_type = 'client backend'",
      );
    }
    expect(ended).toBe('1');
    const r = await backup;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/none was archived for 8 s \(--archive-timeout\): archive_command failed/);
    expect(Date.now() - started).toBeLessThan(BACKUP_TIMEOUT_MS + 15_000);
  }, 60_000);

  it("a second cluster's WAL, check and base backup are refused from the first one's source, naming both identifiers", async () => {
    const ours = await systemIdOf(good);
    const theirs = await systemIdOf(intruder);
    expect(theirs).not.toBe(ours);
    const mismatch = new RegExp(
      `source "orders" belongs to the cluster with system identifier ${ours}, but .* comes from the cluster with system identifier ${theirs}: refused`,
    );
    const check = await zapasAsPg(repo, ['pg', 'check', '--source', 'orders', '--pg', intruder.conninfo]);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(mismatch);
    const backup = await zapasAsPg(repo, ['pg', 'backup', '--source', 'orders', '--pg', intruder.conninfo]);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(mismatch);
    expect(backup.stderr).toContain('the server being backed up');
    // One of its real segments, pushed by hand as its archive_command does.
    await intruder.sql('SELECT pg_switch_wal()');
    const segment = (await readdir(join(intruder.dataDir, 'pg_wal'))).filter((f) =>
      /^[0-9A-F]{24}$/.test(f),
    )[0]!;
    const push = await zapasAsPg(repo, [
      'pg',
      'wal-push',
      '--source',
      'orders',
      join(intruder.dataDir, 'pg_wal', segment),
    ]);
    expect(push.code).toBe(1);
    expect(push.stderr).toMatch(mismatch);
    expect(push.stderr).toContain(`WAL file ${segment}`);
    // Its own archiver reports the same refusals.
    expect(Number(await intruder.sql('SELECT failed_count FROM pg_stat_archiver'))).toBeGreaterThan(0);
  }, 60_000);
});
