/**
 * A worker killed mid-job: the agent bundle (dist/functions/agent) runs a files backup as the container
 * task would, and is SIGKILLed while it writes packs. The job keeps its lease until it runs out; the
 * orchestrator then puts it back, a new agent runs it to the end, once: one snapshot, a repository that
 * checks clean (what the killed one left is garbage for prune, never a reference).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { LEASE_MS, requeueAbandoned, startReady } from '../../lib/pipeline/orchestrate';
import { checkRepository } from '../../lib/repo/check';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';
import { makeTempRepo, TEST_PASSWORD, testKey, WEAK_KDF_ENV } from '../support/repo';
import { makeTempDir } from '../support/temp';

const AGENT = join(__dirname, '..', '..', 'dist', 'functions', 'agent', 'index.cjs');

let dynamo: DynamoServer;
beforeAll(async () => {
  dynamo = await startDynamoServer();
});
afterAll(async () => {
  await dynamo?.stop();
});

function agent(env: NodeJS.ProcessEnv): { child: ChildProcess; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [AGENT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      if (code !== 0 && code !== null) process.stderr.write(err);
      resolve(code);
    }),
  );
  return { child, exit };
}

async function packsIn(dir: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(join(dir, 'data'), { withFileTypes: true }).catch(() => []))
    if (sub.isDirectory()) n += (await readdir(join(dir, 'data', sub.name))).length;
  return n;
}

describe('agent killed mid-job', () => {
  it('the job is retried after its lease runs out and completes once; the repository checks clean', async () => {
    const data = await makeTempDir();
    await mkdir(join(data, 'assets'));
    // Enough incompressible data that the backup is still writing when it is killed.
    for (let i = 0; i < 24; i++)
      await writeFile(join(data, 'assets', `pack-${i}.bin`), randomBytes(8 * 1024 * 1024));
    const { dir } = await makeTempRepo();
    const configText = JSON.stringify({
      version: 1,
      repositories: { main: { url: dir, residency: 'RU' } },
      sources: {
        assets: {
          type: 'files',
          paths: [join(data, 'assets')],
          repository: 'main',
          dataClass: 'game-content',
          heavy: true,
          events: ['backup-now'],
        },
      },
    });
    const config = parseConfig(configText);
    const table = 'zapas-agent';
    const catalog = new DynamoCatalog(dynamo.client(), table);
    await catalog.ensureTable(dynamo.client());
    const t0 = new Date();
    await catalog.createJob({
      kind: 'backup',
      source: 'assets',
      trigger: { kind: 'message', ref: 'm-1' },
      priority: 5,
      idempotencyKey: 'message:m-1',
    });
    const [first] = await startReady(config, catalog, 'orchestrate-1', t0);
    expect(first?.runner).toBe('agent');
    const env = {
      PATH: process.env.PATH,
      ZAPAS_CONFIG: configText,
      ZAPAS_CATALOG_TABLE: table,
      ZAPAS_DYNAMODB_ENDPOINT: dynamo.endpoint,
      ZAPAS_PASSWORD: TEST_PASSWORD,
      ...WEAK_KDF_ENV,
      ZAPAS_JOB_ID: first!.job.id,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
    const killed = agent(env);
    // Killed once it has written packs, long before it could commit.
    const deadline = Date.now() + 30_000;
    while ((await packsIn(dir)) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    killed.child.kill('SIGKILL');
    expect(await killed.exit).toBeNull();
    expect((await catalog.getJob(first!.job.id))?.state).toBe('running');
    const repo = await Repository.open(new FsStorage(dir), testKey());
    expect(await repo.listSnapshots()).toHaveLength(0);

    // While the lease holds nothing is requeued; once it has run out the job goes back and starts again.
    expect(await requeueAbandoned(config, catalog, new Date(t0.getTime() + 60_000))).toEqual([]);
    const later = new Date(t0.getTime() + LEASE_MS + 60_000);
    expect((await requeueAbandoned(config, catalog, later)).map((j) => j.id)).toEqual([first!.job.id]);
    const [second] = await startReady(config, catalog, 'orchestrate-2', later);
    expect(second?.job).toMatchObject({ id: first!.job.id, attempts: 2 });

    const rerun = agent(env);
    expect(await rerun.exit).toBe(0);
    const done = await catalog.getJob(first!.job.id);
    expect(done).toMatchObject({ state: 'succeeded', attempts: 2 });
    const snapshots = await repo.listSnapshots();
    expect(snapshots.map((s) => s.id)).toEqual([done!.snapshotId]);
    const report = await checkRepository(await Repository.open(new FsStorage(dir), testKey()), {
      readDataPercent: 100,
    });
    expect(report.errors).toEqual([]);
  }, 120_000);
});
