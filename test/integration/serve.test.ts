import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { cliEnv, runCli, spawnCli, ZAPAS_BIN } from '../support/cli';
import { startServe, until } from '../support/serve';
import { makeTempDir } from '../support/temp';

/** `zapas serve` as a process: schedule → backup, HTTP-triggered backups, graceful stop, restart. */
describe('zapas serve', () => {
  let dir = '';
  let config = '';

  beforeAll(async () => {
    dir = await makeTempDir('zapas-serve-');
    await mkdir(join(dir, 'data', 'saves'), { recursive: true });
    for (let i = 0; i < 20; i++)
      await writeFile(join(dir, 'data', 'saves', `player-${i}.sav`), `player ${i} level ${i * 3}`);
    await writeFile(join(dir, 'password'), 'serve test password\n', { mode: 0o600 });
    config = join(dir, 'zapas.yaml');
    await writeFile(
      config,
      `version: 1
repositories:
  main: { url: ./repo, residency: RU, passwordFile: ./password }
sources:
  saves:
    type: files
    paths: [./data/saves]
    repository: main
    dataClass: game-content
    events: [backup-now]
    schedules: [{ cron: "* * * * *" }]
`,
    );
  });

  const start = () => startServe(config, { cwd: dir, args: ['--init'] });
  const getJson = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>;

  it('backs up on schedule and on request, through the API, stops cleanly and resumes', async () => {
    const first = await start();
    const { url, log } = first;
    try {
      // The minute's slot has come: the scheduled job runs at start.
      const scheduled = await until(async () => {
        const { jobs } = (await getJson(`${url}/v1/sources/saves/jobs`)) as {
          jobs: { state: string; trigger: { kind: string } }[];
        };
        return jobs.find((j) => j.trigger.kind === 'schedule' && j.state === 'succeeded');
      }, `the scheduled backup (log: ${log()})`);
      expect(scheduled).toMatchObject({ state: 'succeeded', snapshotId: expect.any(String) });

      const ask = () =>
        fetch(`${url}/v1/sources/saves/backups`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': 'deploy-42' },
          body: JSON.stringify({ reason: 'before the deploy' }),
        });
      const first = await ask();
      const again = await ask();
      expect([first.status, again.status]).toEqual([202, 200]);
      const id = ((await first.json()) as { job: { id: string } }).job.id;
      expect(((await again.json()) as { job: { id: string } }).job.id).toBe(id);
      const done = await until(async () => {
        const { job } = (await getJson(`${url}/v1/jobs/${id}`)) as { job: { state: string } };
        return job.state === 'succeeded' || job.state === 'failed' ? job : undefined;
      }, 'the requested backup');
      expect(done).toMatchObject({ state: 'succeeded', trigger: { kind: 'http', ref: 'deploy-42' } });

      const bad = await fetch(`${url}/v1/sources/saves/backups`, { method: 'POST', body: '{"reason": 7}' });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(/reason/);
      expect((await fetch(`${url}/v1/sources/nope/backups`, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${url}/v1/sources/saves/jobs?state=sleeping`)).status).toBe(400);
      const { sources } = (await getJson(`${url}/v1/sources`)) as {
        sources: { id: string; state: { lastSnapshotId?: string } }[];
      };
      expect(sources[0]).toMatchObject({ id: 'saves', state: { lastSnapshotId: expect.any(String) } });
    } finally {
      expect(await first.stop()).toBe(0);
    }
    // The repository holds both snapshots and checks clean.
    const env = { ZAPAS_REPOSITORY: join(dir, 'repo'), ZAPAS_PASSWORD: 'serve test password' };
    const snaps = await runCli(['snapshots', '--json'], env);
    expect(snaps.code).toBe(0);
    expect((snaps.stdout.match(/"source":"saves"/g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect((await runCli(['check'], env)).code).toBe(0);

    // A restart reads the catalog back: the jobs are still there.
    const second = await start();
    try {
      const { jobs } = (await getJson(`${second.url}/v1/sources/saves/jobs`)) as { jobs: unknown[] };
      expect(jobs.length).toBeGreaterThanOrEqual(2);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 90_000);

  it('a job a killed process left running is queued again at restart and completes once', async () => {
    // What a process killed (kill -9) in the middle of a backup leaves in the catalog.
    const state = join(dir, '.zapas-state', 'catalog.db');
    const catalog = await EmbeddedCatalog.open(state);
    const { job } = await catalog.createJob({
      kind: 'backup',
      source: 'saves',
      trigger: { kind: 'http', ref: 'killed' },
      priority: 5,
      idempotencyKey: 'http:saves:killed',
    });
    await catalog.transition(job.id, 'queued', 'running', { worker: 'serve-dead' });
    await catalog.acquireLease('source:saves', job.id, 15 * 60 * 1000);
    catalog.close();
    const restarted = await start();
    const { url } = restarted;
    try {
      const done = await until(async () => {
        const { job: j } = (await getJson(`${url}/v1/jobs/${job.id}`)) as { job: { state: string } };
        return j.state === 'succeeded' || j.state === 'failed' ? j : undefined;
      }, 'the retried job');
      expect(done).toMatchObject({ state: 'succeeded', attempts: 2, snapshotId: expect.any(String) });
    } finally {
      expect(await restarted.stop()).toBe(0);
    }
    const env = { ZAPAS_REPOSITORY: join(dir, 'repo'), ZAPAS_PASSWORD: 'serve test password' };
    expect((await runCli(['check'], env)).code).toBe(0);
  }, 60_000);

  it('one serve per state folder: a second is refused, and one started after a kill -9 of the first is not', async () => {
    const first = await start();
    try {
      const second = await spawnCli(['serve', '--config', config, '--port', '0'], {}, { cwd: dir });
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(
        `another zapas serve is using the state folder ${join(dir, '.zapas-state')}`,
      );
      // The first one is untouched by the attempt.
      expect((await fetch(`${first.url}/v1/health`)).status).toBe(200);
    } finally {
      const exited = new Promise((r) => first.child.once('exit', r));
      first.child.kill('SIGKILL');
      await exited;
    }
    const next = await start();
    expect(await next.stop()).toBe(0);
  }, 60_000);

  it('a SIGTERM the moment it announces its API stops it cleanly (exit 0), every time', async () => {
    // Sent from the output handler itself, as a supervisor watching for the line would: the signal used
    // to arrive before serve listened for it in about every second start, and Node's default killed it.
    const TRIES = 10;
    for (let i = 0; i < TRIES; i++) {
      const child = spawn(process.execPath, [ZAPAS_BIN, 'serve', '--config', config, '--port', '0'], {
        env: cliEnv({ ZAPAS_PASSWORD: undefined }),
        cwd: dir,
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      child.stdout.on('data', (d: Buffer) => {
        if (d.includes('API on')) child.kill('SIGTERM');
      });
      const exit = await new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
      expect({ try: i, exit }).toEqual({ try: i, exit: { code: 0, signal: null } });
    }
  }, 90_000);

  it('refuses a configuration with problems before listening (exit 2, the line named)', async () => {
    const badConfig = join(dir, 'bad.yaml');
    await writeFile(badConfig, 'version: 1\nrepositories: {}\nsources:\n  a: { type: files }\n');
    const listening = process.listenerCount('SIGTERM');
    const r = await runCli(['serve', '--config', badConfig, '--port', '0']);
    expect(r.code).toBe(2);
    // Run in this process: a start that failed leaves no signal listener behind.
    expect(process.listenerCount('SIGTERM')).toBe(listening);
    expect(r.stderr).toMatch(/bad\.yaml:4:\d+: sources\.a/);
  });
});
