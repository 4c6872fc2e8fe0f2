import { join } from 'node:path';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { pool, postBytes, rssOf, serveFolder } from '../api/live-serve';
import { type RunningServe, startServe } from '../support/serve';

const MiB = 1024 * 1024;

/** A real `zapas serve` under hostile load: huge bodies, a flood of requests. */
describe('zapas serve under load', () => {
  let dir = '';
  let serve: RunningServe;

  beforeAll(async () => {
    ({ dir } = await serveFolder());
    // Backups in the process (no worker threads): what the server's memory shows is the API's.
    serve = await startServe(join(dir, 'zapas.yaml'), {
      cwd: dir,
      args: ['--init'],
      env: { ZAPAS_WORKERS: '0' },
    });
    // Warm up: the first requests compile the handlers.
    for (let i = 0; i < 20; i++) await (await fetch(`${serve.url}/v1/sources`)).text();
  }, 60_000);

  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
  });

  it.each(['content-length', 'chunked'] as const)(
    'a 64 MiB body sent with %s is refused 413 before it is read: the server stays within a few MiB',
    async (how) => {
      const before = rssOf(serve.child.pid!);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(serve.child.pid!))), 10);
      let result: { status: number; sent: number };
      try {
        result = await postBytes(`${serve.url}/v1/sources/saves/backups`, 64 * MiB, how);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, rssOf(serve.child.pid!));
      expect(result.status).toBe(413);
      expect(peak - before).toBeLessThan(8 * MiB);
      // It still answers, and made no job of it.
      expect((await fetch(`${serve.url}/v1/health`)).status).toBe(200);
      process.stdout.write(
        `64 MiB ${how}: 413 after ${(result.sent / MiB).toFixed(1)} MiB written; RSS ${(before / MiB).toFixed(1)} → peak ${(peak / MiB).toFixed(1)} MiB\n`,
      );
    },
    60_000,
  );

  it('10,000 requests, 50 at a time: 429s with Retry-After, health answers, memory flat, no pile of jobs', async () => {
    const before = rssOf(serve.child.pid!);
    const statuses = new Map<number, number>();
    let retryAfter = 0;
    let healthFailures = 0;
    const health = setInterval(
      () =>
        void fetch(`${serve.url}/v1/health`)
          .then((r) => r.status === 200 || healthFailures++)
          .catch(() => healthFailures++),
      100,
    );
    const rounds: number[] = [];
    try {
      for (let round = 0; round < 4; round++) {
        await pool(2_500, 50, async (i) => {
          const res =
            i % 2 === 0
              ? await fetch(`${serve.url}/v1/sources/saves/backups`, { method: 'POST' })
              : await fetch(`${serve.url}/v1/sources/saves/jobs`);
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 429) retryAfter = Math.max(retryAfter, Number(res.headers.get('retry-after')));
        });
        rounds.push(rssOf(serve.child.pid!));
      }
    } finally {
      clearInterval(health);
    }
    const after = rounds[3]!;
    process.stdout.write(
      `flood: ${JSON.stringify(Object.fromEntries(statuses))}; RSS ${(before / MiB).toFixed(1)} MiB, after each 2,500: ${rounds.map((r) => (r / MiB).toFixed(1)).join(', ')} MiB\n`,
    );
    expect([...statuses.keys()].every((s) => [200, 202, 409, 429].includes(s))).toBe(true);
    expect(statuses.get(429) ?? 0).toBeGreaterThan(9000);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(healthFailures).toBe(0);
    expect((await fetch(`${serve.url}/v1/health`)).status).toBe(200);
    // The heap grows to its working size in the first round, then stays there.
    expect(after - before).toBeLessThan(64 * MiB);
    expect(after - rounds[0]!).toBeLessThan(16 * MiB);
    // The catalog has a handful of jobs, not thousands.
    const catalog = await EmbeddedCatalog.open(join(dir, '.zapas-state', 'catalog.db'));
    try {
      const jobs = await catalog.listJobs('saves');
      expect(jobs.length).toBeLessThan(100);
      expect(jobs.length).toBeGreaterThan(0);
    } finally {
      catalog.close();
    }
  }, 120_000);
});
