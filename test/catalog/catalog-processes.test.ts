import { type ChildProcess, spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { CatalogBusyError } from '../../lib/catalog/errors';
import { jobIdOf } from '../../lib/catalog/jobs';
import { bundleScript } from '../../scripts/bundle-script';
import { makeTempDir } from '../support/temp';

/** The embedded catalog's file shared by processes: durable at return, one winner per conditional move. */
let dir = '';
let child = '';
beforeAll(async () => {
  dir = await makeTempDir('zapas-catalog-processes-');
  child = await bundleScript(join(__dirname, 'catalog-child.ts'), join(dir, 'child.cjs'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function run(args: string[]): ChildProcess {
  return spawn(process.execPath, [child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the child's stdout once `done` says it has seen enough, or at exit. */
function output(p: ChildProcess, done: (out: string) => boolean = () => false): Promise<string> {
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    p.stdout!.on('data', (d) => {
      out += d;
      if (done(out)) resolve(out);
    });
    p.stderr!.on('data', (d) => (err += d));
    p.once('exit', (code, signal) =>
      code === 0 || signal ? resolve(out) : reject(new Error(`child exited ${code}: ${err}`)),
    );
  });
}

/** Another process holding the database's write lock for `ms`: resolves once it has it, with its end. */
async function holdLock(file: string, ms: number): Promise<{ released: Promise<string> }> {
  const holder = run(['hold', file, String(ms)]);
  const released = output(holder);
  await output(holder, (o) => o.includes('locked'));
  return { released };
}

it('a change that returned survives a SIGKILL right after: the next open finds every reported one', async () => {
  const file = join(dir, 'killed', 'catalog.db');
  const writer = run(['write', file]);
  const exited = new Promise((r) => writer.once('exit', r));
  const out = await output(writer, (o) => o.split('\n').length > 40);
  writer.kill('SIGKILL');
  await exited;
  // A killed process leaves its write-ahead log and its index: private, like the database.
  for (const f of [file, `${file}-wal`, `${file}-shm`]) expect((await stat(f)).mode & 0o777).toBe(0o600);
  const reported = out
    .split('\n')
    .filter((l) => /^\d+$/.test(l))
    .map(Number);
  expect(reported.length).toBeGreaterThanOrEqual(40);
  const last = Math.max(...reported);
  const catalog = await EmbeddedCatalog.open(file);
  try {
    for (const i of reported)
      expect(await catalog.getJob(jobIdOf(`w-${i}`))).toMatchObject({ state: 'running', worker: `w-${i}` });
    // The source's state is the last reported change's, or a later one's the writer made before it died.
    const jobs = (await catalog.listJobs('saves')).length;
    expect(jobs).toBeGreaterThan(last);
    const lastJobId = (await catalog.getSourceState('saves'))?.lastJobId;
    expect([jobIdOf(`w-${jobs - 1}`), jobIdOf(`w-${jobs - 2}`)]).toContain(lastJobId);
  } finally {
    catalog.close();
  }
});

it('three processes racing over one file: one creator, one starter, one slot and one lease holder per key, no lost update', async () => {
  const file = join(dir, 'race', 'catalog.db');
  // The file exists before the racers start, as serve's does when a second process opens it.
  (await EmbeddedCatalog.open(file)).close();
  const KEYS = 150;
  const racers = ['a', 'b', 'c'].map((w) => output(run(['race', file, w, String(KEYS)])));
  const won = (await Promise.all(racers)).map(
    (o) =>
      JSON.parse(o.trim()) as { created: string[]; started: string[]; slots: string[]; leases: string[] },
  );
  for (const what of ['created', 'started', 'slots', 'leases'] as const) {
    const all = won.flatMap((w) => w[what]);
    expect(all).toHaveLength(KEYS);
    expect(new Set(all).size).toBe(KEYS);
  }
  const catalog = await EmbeddedCatalog.open(file);
  try {
    const jobs = await catalog.listJobs('saves');
    expect(jobs).toHaveLength(KEYS);
    for (const job of jobs) expect(job).toMatchObject({ state: 'running', attempts: 1 });
    // Each racer's own field holds its last key: no racer's write replaced another's.
    expect(await catalog.getSourceState('saves')).toEqual({
      source: 'saves',
      lastSnapshotId: `k-${KEYS - 1}`,
      lastError: `k-${KEYS - 1}`,
      lastVerifyDetail: `k-${KEYS - 1}`,
    });
  } finally {
    catalog.close();
  }
}, 60_000);

describe('a change while another process holds the write lock', () => {
  const file = () => join(dir, 'busy', 'catalog.db');
  beforeAll(async () => {
    (await EmbeddedCatalog.open(file())).close();
  });
  const spec = (key: string) => ({
    kind: 'backup' as const,
    source: 'saves',
    trigger: { kind: 'http' as const, ref: key },
    priority: 5,
    idempotencyKey: key,
  });

  it('waits for it, then goes through', async () => {
    const catalog = await EmbeddedCatalog.open(file(), { busyTimeoutMs: 10_000 });
    const { released } = await holdLock(file(), 600);
    try {
      const t0 = performance.now();
      expect((await catalog.createJob(spec('waited'))).created).toBe(true);
      expect(performance.now() - t0).toBeGreaterThan(100);
      await released;
    } finally {
      catalog.close();
    }
  });

  it('fails with CatalogBusyError naming the file when the lock outlasts the wait, and writes nothing', async () => {
    const catalog = await EmbeddedCatalog.open(file(), { busyTimeoutMs: 150 });
    const { released } = await holdLock(file(), 2000);
    try {
      const attempt = catalog.createJob(spec('gave-up'));
      await expect(attempt).rejects.toBeInstanceOf(CatalogBusyError);
      await expect(attempt).rejects.toThrow(`the catalog ${file()} stayed locked by another process`);
      await released;
      expect(await catalog.getJob(jobIdOf('gave-up'))).toBeUndefined();
    } finally {
      catalog.close();
    }
  });
});

it('a reader is not blocked by a writer holding the lock (write-ahead log)', async () => {
  const file = join(dir, 'reader', 'catalog.db');
  const catalog = await EmbeddedCatalog.open(file, { busyTimeoutMs: 100 });
  try {
    await catalog.updateSourceState('saves', { lastSnapshotId: 's1' });
    const { released } = await holdLock(file, 800);
    const t0 = performance.now();
    expect(await catalog.getSourceState('saves')).toMatchObject({ lastSnapshotId: 's1' });
    expect(performance.now() - t0).toBeLessThan(500);
    await released;
  } finally {
    catalog.close();
  }
  // The database is a plain SQLite file: its jobs are readable by any SQLite tool.
  const db = new DatabaseSync(file, { readOnly: true });
  expect(db.prepare('SELECT count(*) AS n FROM sources').get()).toEqual({ n: 1 });
  db.close();
});
