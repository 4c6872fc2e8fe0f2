import { join } from 'node:path';
import { lastJson } from '../support/cli';
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

/** WAL retention follows base backups: prune removes only WAL that no kept backup can use. */
describePg('WAL retention with forget and prune', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  const backups: { id: string; startWal: string }[] = [];

  const walNames = async () =>
    (await zapasAsPg(repo, ['pg', 'backups', '--source', 'saves-db', '--json'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { messageType: string; first?: string; last?: string; gaps?: string[] })
      .filter((m) => m.messageType === 'wal');

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'saves-db' });
    await cluster.sql('CREATE TABLE saves (player int, slot int, data text)');
    for (let round = 0; round < 2; round++) {
      const b = await zapasAsPg(repo, [
        'pg',
        'backup',
        '--source',
        'saves-db',
        '--pg',
        cluster.conninfo,
        '--json',
      ]);
      if (b.code !== 0) throw new Error(b.stderr);
      const s = lastJson<{ snapshotId: string; startWal: string }>(b.stdout);
      backups.push({ id: s.snapshotId, startWal: s.startWal });
      for (let i = 0; i < 3; i++) {
        await cluster.sql(
          `INSERT INTO saves SELECT g, ${round}, md5(g::text) FROM generate_series(1, 500) g`,
        );
        await archiveNow(cluster);
      }
    }
  }, 180_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('keeps all WAL while the oldest backup is kept, then removes only what came before the oldest kept one', async () => {
    const [first, second] = backups;
    // WAL from before the first backup (the cluster's first segments) is of no use to any backup.
    const dry = await zapasAsPg(repo, ['prune', '--dry-run']);
    expect(dry.stdout).toMatch(
      new RegExp(`would remove \\d+ WAL file\\(s\\) .* from before ${first!.startWal}`),
    );
    const before = (await walNames())[0]!;
    expect(before.first! <= first!.startWal).toBe(true);
    expect((await zapasAsPg(repo, ['forget', first!.id])).code).toBe(0);
    const pruned = await zapasAsPg(repo, ['prune']);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(
      new RegExp(`WAL file\\(s\\) .* of source "saves-db" from before ${second!.startWal}`),
    );
    const after = (await walNames())[0]!;
    expect(after.first).toBe(second!.startWal);
    expect(after.last).toBe(before.last);
    expect(after.gaps).toEqual([]);
  });

  it('the kept backup still restores to the end of the WAL', async () => {
    const target = join(await makePgDir(), 'data');
    const r = await zapasAsPg(repo, [
      'pg',
      'restore',
      '--source',
      'saves-db',
      '--target',
      target,
      '--promote',
    ]);
    expect(r.code).toBe(0);
    const server = await RestoredServer.start(target, { env: repo.env });
    try {
      expect(await server.untilRecovered()).toBe('promoted');
      expect(await server.sql('SELECT count(*) FROM saves')).toBe('3000');
    } finally {
      await server.stop();
    }
  });
});
