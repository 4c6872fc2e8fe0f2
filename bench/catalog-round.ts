/**
 * The embedded catalog under a serve's load: a job round (create, start, finish: three durable commits)
 * on a database file already holding `jobs` jobs, timed per round and per call, while the event loop's
 * delay is sampled (node:sqlite is synchronous: a call holds the loop for its commit). With `contend`, a
 * second process writes to the same file all along (`zapas serve` and another tool on one catalog).
 * Prints one JSON line. Run by bench/catalog-bench.mjs.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { EmbeddedCatalog } from '../lib/catalog/embedded-catalog';
import { jobIdOf, type NewJob } from '../lib/catalog/jobs';

const ROUNDS = Number(process.env.BENCH_CATALOG_ROUNDS ?? 300);
const SOURCES = 20;
/** The other writer's pause between its rounds. */
const OTHER_PAUSE_MS = 1;

const spec = (key: string, source: string): NewJob => ({
  kind: 'backup',
  source,
  trigger: { kind: 'http', ref: key },
  priority: 5,
  idempotencyKey: key,
});

/** The catalog filled with `n` finished jobs in one transaction (what months of schedules leave). */
async function filled(file: string, n: number): Promise<EmbeddedCatalog> {
  const catalog = await EmbeddedCatalog.open(file);
  const now = new Date().toISOString();
  const jobs = Array.from({ length: n }, (_, i) => ({
    id: jobIdOf(`fill-${i}`),
    kind: 'backup' as const,
    source: `s${i % SOURCES}`,
    state: 'succeeded' as const,
    trigger: { kind: 'schedule' as const, ref: '*/15 * * * *' },
    priority: 5,
    attempts: 1,
    createdAt: now,
    updatedAt: now,
    startedAt: now,
    endedAt: now,
    snapshotId: 'f'.repeat(64),
  }));
  catalog.importRecords({ jobs, leases: [], sources: [], slots: [], holds: [], parts: [] }, `bench ${n}`);
  return catalog;
}

function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const [mode, jobsArg, contendArg] = process.argv.slice(2);
  if (mode === 'writer') return writer(jobsArg!);
  const jobs = Number(jobsArg ?? 0);
  const dir = mkdtempSync(join(tmpdir(), 'zapas-catalog-bench-'));
  const file = join(dir, 'catalog.db');
  const catalog = await filled(file, jobs);
  const other =
    contendArg === 'contend' ? fork(__filename, ['writer', file], { stdio: 'ignore' }) : undefined;
  let otherRounds = 0;
  other?.on('message', (n) => (otherRounds = Number(n)));
  const rounds: number[] = [];
  const calls: number[] = [];
  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    calls.push(performance.now() - t);
    return r;
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    const source = `s${i % SOURCES}`;
    const { job } = await timed(() => catalog.createJob(spec(`round-${i}`, source)));
    await timed(() => catalog.transition(job.id, 'queued', 'running', { worker: 'bench' }));
    await timed(() => catalog.transition(job.id, 'running', 'succeeded', { snapshotId: 'x' }));
    await timed(() => catalog.listJobs(source, { limit: 20 }));
    rounds.push(performance.now() - t);
    // What serve does between calls: the loop turns (HTTP, timers).
    await new Promise((r) => setImmediate(r));
  }
  const seconds = (performance.now() - t0) / 1000;
  delay.disable();
  const otherPerSecond = otherRounds / seconds;
  other?.kill('SIGKILL');
  catalog.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `${JSON.stringify({
      jobs,
      contended: Boolean(other),
      otherChangesPerSecond: 2 * otherPerSecond,
      rounds: ROUNDS,
      roundsPerSecond: ROUNDS / seconds,
      roundMsP50: percentile(rounds, 50),
      roundMsP99: percentile(rounds, 99),
      callMsP50: percentile(calls, 50),
      callMsP99: percentile(calls, 99),
      callMsMax: Math.max(...calls),
      loopDelayMsP99: delay.percentile(99) / 1e6,
      loopDelayMsMax: delay.max / 1e6,
    })}\n`,
  );
}

/**
 * The other process: two changes on its own source, a millisecond's pause (a busy tool, not a tight loop:
 * SQLite's lock is not fair, and a process that takes it again the instant it let it go can keep another
 * waiting past its busy timeout), until killed. Reports its count to the parent.
 */
async function writer(file: string): Promise<void> {
  const catalog = await EmbeddedCatalog.open(file, { busyTimeoutMs: 60_000 });
  for (let i = 0; ; i++) {
    const { job } = await catalog.createJob(spec(`other-${i}`, 'other'));
    await catalog.transition(job.id, 'queued', 'cancelled');
    process.send?.(i + 1);
    await new Promise((r) => setTimeout(r, OTHER_PAUSE_MS));
  }
}

void main();
