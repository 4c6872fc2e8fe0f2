import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PasswordKeySlot } from '../../lib/keys/password';
import { Repository } from '../../lib/repo/repository';
import { backupFiles } from '../../lib/sources/files/backup';
import { FsStorage } from '../../lib/storage/fs';
import { jsonLines, runCli } from '../support/cli';
import { PG_AVAILABLE, TestCluster } from '../support/postgres';
import { startServe } from '../support/serve';
import { makeTempDir } from '../support/temp';

const describePg = PG_AVAILABLE ? describe : describe.skip;
const PASSWORD = 'e2e password';

/**
 * The service end to end through `zapas serve`: a files source and a postgres source, each backed up on
 * its schedule, verified after the backup, and retention purged on the purge schedule — all through the
 * same stage code the cloud runs, visible through the API.
 */
describePg('zapas serve end to end: schedule → backup → verify → purge', () => {
  let cluster: TestCluster;
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('runs every stage for files and postgres', async () => {
    const dir = await makeTempDir('zapas-e2e-');
    const saves = join(dir, 'saves');
    await mkdir(saves);
    for (let i = 0; i < 50; i++)
      await writeFile(join(saves, `player-${i}.sav`), `player ${i}: ${'x'.repeat(i * 40)}`);
    await writeFile(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
    cluster = await TestCluster.create({ conf: ['wal_keep_size = 256MB'] });
    await cluster.sql('CREATE TABLE payments (id int PRIMARY KEY, amount numeric)');
    await cluster.sql('INSERT INTO payments SELECT g, g * 1.5 FROM generate_series(1, 2000) g');

    // Three old snapshots of the saves (40, 39 and 38 days ago): retention keeps the last two.
    const repo = await Repository.init(new FsStorage(join(dir, 'repo')), new PasswordKeySlot(PASSWORD, 10));
    const old: string[] = [];
    for (const d of [40, 39, 38])
      old.push(
        (
          await backupFiles(repo, [saves], {
            source: 'saves',
            now: () => new Date(Date.now() - d * 86_400_000),
          })
        ).snapshotId,
      );

    const config = join(dir, 'zapas.yaml');
    await writeFile(
      config,
      `version: 1
purge: { schedule: "* * * * *", grace: 0h }
repositories:
  main: { url: ./repo, residency: RU, passwordFile: ./password }
sources:
  saves:
    type: files
    paths: [./saves]
    repository: main
    dataClass: game-content
    schedules: [{ cron: "* * * * *" }]
    retention: { keepLast: 2 }
    verify: { depth: full }
  payments:
    type: postgres
    conninfo: "${cluster.conninfo}"
    repository: main
    dataClass: payment
    schedules: [{ cron: "* * * * *", type: full }]
    retention: { minimum: 5y }
    verify: { depth: sample, share: 0.5 }
`,
    );
    const serve = await startServe(config, { cwd: dir });
    const { url } = serve;
    try {
      const jobsOf = async (source: string) =>
        (
          (await (await fetch(`${url}/v1/sources/${source}/jobs`)).json()) as {
            jobs: { kind: string; state: string; error?: string }[];
          }
        ).jobs;
      const end = Date.now() + 90_000;
      for (;;) {
        const all = [...(await jobsOf('saves')), ...(await jobsOf('payments'))];
        const done = (kind: string, source: string) =>
          all.some(
            (j) =>
              j.kind === kind &&
              j.state === 'succeeded' &&
              (j as unknown as { source: string }).source === source,
          );
        if (
          ['saves', 'payments'].every((s) => done('backup', s) && done('verify', s)) &&
          /purge of repository "main"/.test(serve.log())
        )
          break;
        const failed = all.find((j) => j.state === 'failed');
        if (failed) throw new Error(`a job failed: ${JSON.stringify(failed)}\n${serve.log()}`);
        if (Date.now() > end) throw new Error(`timed out; jobs ${JSON.stringify(all)}\n${serve.log()}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      const { sources } = (await (await fetch(`${url}/v1/sources`)).json()) as {
        sources: { id: string; state: { lastSnapshotId?: string; lastVerifyOk?: boolean } }[];
      };
      for (const s of sources)
        expect(s.state).toMatchObject({ lastSnapshotId: expect.any(String), lastVerifyOk: true });
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    // The purge forgot the oldest of the saves; the repository checks clean, data read back.
    expect(serve.log()).toMatch(/purge of repository "main": [1-9]\d* snapshot\(s\) forgotten/);
    const env = { ZAPAS_REPOSITORY: join(dir, 'repo'), ZAPAS_PASSWORD: PASSWORD };
    const snaps = await runCli(['snapshots', '--json'], env);
    const left = jsonLines<{ id: string; source: string }>(snaps.stdout);
    expect(left.map((x) => x.id)).not.toContain(old[0]);
    expect(left.map((x) => x.id)).toEqual(expect.arrayContaining([old[1], old[2]]));
    expect(left.filter((x) => x.source === 'payments')).toHaveLength(1);
    expect((await runCli(['check', '--read-data'], env)).code).toBe(0);
  }, 150_000);
});
