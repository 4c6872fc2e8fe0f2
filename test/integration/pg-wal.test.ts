import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { segmentName, segmentNumber, timelineOf } from '../../lib/sources/postgres/wal-names';
import {
  makePgDir,
  makePgRepo,
  PG_AVAILABLE,
  type PgRepo,
  runAsPg,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';

const describePg = PG_AVAILABLE ? describe : describe.skip;

/** Waits until `check` holds (WAL archiving happens in the background of the server). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describePg('WAL archiving through zapas (archive_command and restore_command)', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let segment = '';

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'accounts' });
    await cluster.sql('CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10000)');
    segment = await cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    await cluster.sql('SELECT pg_switch_wal()');
    await until(
      async () => (await cluster.sql('SELECT last_archived_wal FROM pg_stat_archiver')) >= segment,
      `${segment} to be archived`,
    );
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('archives segments the server hands over, and fetches them back byte for byte', async () => {
    const scratch = await makePgDir();
    const r = await zapasAsPg(repo, [
      'pg',
      'wal-fetch',
      '--source',
      'accounts',
      segment,
      join(scratch, 'seg'),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const original = await readFile(join(cluster.dataDir, 'pg_wal', segment)).catch(() => undefined);
    const fetched = await readFile(join(scratch, 'seg'));
    expect(fetched.length).toBe(16 * 1024 * 1024);
    // The server may have recycled the segment already; when it is still there, it must be identical.
    if (original) expect(fetched.equals(original)).toBe(true);
    expect((await cluster.sql('SELECT failed_count FROM pg_stat_archiver')).trim()).toBe('0');
  });

  it('stores each segment compressed and encrypted: no plaintext WAL in the repository', async () => {
    const r = await runAsPg('grep', ['-rl', 'generate_series', repo.dir]);
    expect(r.stdout).toBe('');
    const sizes = await runAsPg('sh', ['-c', `find ${repo.dir}/wal -type f -size +2M | wc -l`]);
    expect(sizes.stdout.trim()).toBe('0');
  });

  it('answers 1 for a segment after the end of the archive, so recovery ends cleanly', async () => {
    const scratch = await makePgDir();
    const r = await zapasAsPg(repo, [
      'pg',
      'wal-fetch',
      '--source',
      'accounts',
      '0000000100000000000000F0',
      join(scratch, 'x'),
    ]);
    expect(r.code).toBe(1);
    const history = await zapasAsPg(repo, [
      'pg',
      'wal-fetch',
      '--source',
      'accounts',
      '00000002.history',
      join(scratch, 'h'),
    ]);
    expect(history.code).toBe(1);
  });

  it('takes the same segment twice, and refuses different content under the same name', async () => {
    const scratch = await makePgDir();
    const path = join(scratch, segment);
    const again = await zapasAsPg(repo, ['pg', 'wal-fetch', '--source', 'accounts', segment, path]);
    expect(again.code).toBe(0);
    const same = await zapasAsPg(repo, ['pg', 'wal-push', '--source', 'accounts', path]);
    expect(same.code).toBe(0);
    const changed = Buffer.from(await readFile(path));
    changed.writeUInt8(changed.readUInt8(1000) ^ 0xff, 1000);
    await writeFile(path, changed);
    const conflict = await zapasAsPg(repo, ['pg', 'wal-push', '--source', 'accounts', path]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(new RegExp(`${segment} is archived already with different content`));
  });

  it('fetches the next segments ahead, so recovery takes them from the spool without the repository', async () => {
    const first = await cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    const after = (n: bigint) => segmentName(timelineOf(first), segmentNumber(first) + n);
    const next = after(1n);
    for (let i = 0; i < 3; i++)
      await cluster.sql('INSERT INTO t SELECT generate_series(1, 1000); SELECT pg_switch_wal()');
    await until(
      async () => (await cluster.sql('SELECT last_archived_wal FROM pg_stat_archiver')) >= after(2n),
      'the next segments to be archived',
    );
    const pgWal = await makePgDir();
    const spool = join(pgWal, 'zapas-prefetch');
    const r = await zapasAsPg(repo, ['pg', 'wal-fetch', '--source', 'accounts', first, join(pgWal, first)]);
    expect(r.code).toBe(0);
    await until(
      async () => (await runAsPg('test', ['-f', join(spool, next)])).code === 0,
      `${next} in the spool`,
    );
    const mode = await runAsPg('stat', ['-c', '%a', spool, join(spool, next)]);
    expect(mode.stdout.trim().split('\n')).toEqual(['700', '600']);
    // The repository is out of reach now: the segment can only come from the spool.
    const served = await zapasAsPg(
      repo,
      ['pg', 'wal-fetch', '--source', 'accounts', next, join(pgWal, next)],
      {
        ZAPAS_REPOSITORY: join(pgWal, 'no-such-repository'),
      },
    );
    expect(served.stderr).toBe('');
    expect(served.code).toBe(0);
    expect((await runAsPg('test', ['-e', join(spool, next)])).code).not.toBe(0);
    const direct = await makePgDir();
    const plain = await zapasAsPg(repo, [
      'pg',
      'wal-fetch',
      '--no-prefetch',
      '--source',
      'accounts',
      next,
      join(direct, next),
    ]);
    expect(plain.code).toBe(0);
    expect((await runAsPg('test', ['-e', join(direct, 'zapas-prefetch')])).code).not.toBe(0);
    expect((await readFile(join(pgWal, next))).equals(await readFile(join(direct, next)))).toBe(true);
  });

  it('stops recovery (exit 200) on a damaged segment, and names it', async () => {
    const r = await runAsPg('sh', ['-c', `find ${repo.dir}/wal -type f -name '${segment}'`]);
    const object = r.stdout.trim();
    expect(object).not.toBe('');
    const bytes = await readFile(object);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 100) ^ 0x01, bytes.length - 100);
    await writeFile(object, bytes);
    const scratch = await makePgDir();
    const fetched = await zapasAsPg(repo, [
      'pg',
      'wal-fetch',
      '--source',
      'accounts',
      segment,
      join(scratch, 's'),
    ]);
    expect(fetched.code).toBe(200);
    expect(fetched.stderr).toMatch(new RegExp(`wal/[0-9a-f]+/00000001/${segment}`));
  });
});
