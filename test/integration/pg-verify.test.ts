import { lastJson } from '../support/cli';
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

/** zapas pg verify: restores into scratch, pg_verifybackup, a throw-away server, amcheck, SQL checks. */
describePg('zapas pg verify', () => {
  let repo: PgRepo;
  let cluster: TestCluster;

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'library' });
    await cluster.sql('CREATE TABLE owned (player int, game int, PRIMARY KEY (player, game))');
    await cluster.sql(
      'INSERT INTO owned SELECT p, g FROM generate_series(1, 200) p, generate_series(1, 20) g',
    );
    await cluster.sql('CREATE INDEX owned_game ON owned (game)');
    const b = await zapasAsPg(repo, ['pg', 'backup', '--source', 'library', '--pg', cluster.conninfo]);
    if (b.code !== 0) throw new Error(b.stderr);
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('passes a good backup: every step, a measured recovery time, nothing left behind', async () => {
    // Its own temporary folder: other suites' verifications run at the same time in /tmp.
    const tmp = await makePgDir('zapas-verify-tmp-');
    const r = await zapasAsPg(
      repo,
      [
        'pg',
        'verify',
        '--source',
        'library',
        '--json',
        '--sql',
        'SELECT count(*) = 4000 FROM owned',
        '--sql',
        'SELECT NOT EXISTS (SELECT 1 FROM owned WHERE game > 20)',
      ],
      { TMPDIR: tmp },
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = lastJson<{
      ok: boolean;
      rtoMs: number;
      steps: { name: string; ok: boolean; detail: string }[];
    }>(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.name)).toEqual([
      'restore',
      'pg_verifybackup',
      'recovery',
      'amcheck',
      'sql checks',
    ]);
    expect(report.steps.find((s) => s.name === 'amcheck')!.detail).toMatch(/[1-9]\d* B-tree indexes/);
    expect(report.steps.find((s) => s.name === 'pg_verifybackup')!.detail).toMatch(/every file matches/);
    expect(report.rtoMs).toBeGreaterThan(0);
    const left = await runAsPg('sh', ['-c', `ls -d ${tmp}/zapas-verify-* 2>/dev/null | wc -l`]);
    expect(left.stdout.trim()).toBe('0');
  });

  it('fails (exit 1) with the reason when a check answers false', async () => {
    const r = await zapasAsPg(repo, [
      'pg',
      'verify',
      '--source',
      'library',
      '--sql',
      'SELECT count(*) = 1 FROM owned',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /verification failed at sql checks: "SELECT count\(\*\) = 1 FROM owned" answered false/,
    );
  });

  it('fails at pg_verifybackup, naming the segment, when WAL the backup needs is missing from the archive', async () => {
    const listed = await zapasAsPg(repo, ['pg', 'backups', '--source', 'library', '--json']);
    const { startWal } = JSON.parse(listed.stdout.split('\n')[0]!) as { startWal: string };
    const wal = (await runAsPg('sh', ['-c', `find ${repo.dir}/wal -type f -name ${startWal}`])).stdout.trim();
    await runAsPg('mv', [wal, `${wal}.away`]);
    try {
      const r = await zapasAsPg(repo, ['pg', 'verify', '--source', 'library']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `verification failed at pg_verifybackup: WAL segment ${startWal}, which the backup needs, is not in the archive`,
        ),
      );
    } finally {
      await runAsPg('mv', [`${wal}.away`, wal]);
    }
  });
});
