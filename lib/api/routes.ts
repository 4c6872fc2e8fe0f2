/**
 * The HTTP API's routes (hono), validated with zod: sources and their state, a source's jobs, one job,
 * and asking for a backup. Authentication comes with the API issue; this is the routing and validation
 * layer the functions and `zapas serve` share.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { Catalog } from '../catalog/catalog';
import { JOB_STATES, type Job } from '../catalog/jobs';
import type { ZapasConfig } from '../pipeline/config/schema';

export interface ApiService {
  config: ZapasConfig;
  catalog: Catalog;
  /** Creates (once per key) the job for a backup of `source` asked for over HTTP. */
  requestBackup(source: string, key: string, reason?: string): Promise<{ job: Job; created: boolean }>;
  /** Jobs running in this process, for /v1/health. */
  running(): number;
}

const jobsQuery = z.object({
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const backupBody = z.object({ reason: z.string().max(500).optional() }).strict();

export function apiRoutes(svc: ApiService): Hono {
  const app = new Hono();
  const known = (source: string) => Object.hasOwn(svc.config.sources, source);
  const noSource = (source: string) => ({ error: `no source "${source}"` });

  app.get('/v1/health', (c) =>
    c.json({ ok: true, sources: Object.keys(svc.config.sources).length, running: svc.running() }),
  );

  app.get('/v1/sources', async (c) => {
    const sources = await Promise.all(
      Object.entries(svc.config.sources).map(async ([id, s]) => ({
        id,
        type: s.type,
        dataClass: s.dataClass,
        priority: s.priority,
        schedules: s.schedules.map((x) => x.cron),
        state: (await svc.catalog.getSourceState(id)) ?? null,
      })),
    );
    return c.json({ sources });
  });

  app.get('/v1/sources/:source/jobs', async (c) => {
    const source = c.req.param('source');
    if (!known(source)) return c.json(noSource(source), 404);
    const q = jobsQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    return c.json({ jobs: await svc.catalog.listJobs(source, q.data) });
  });

  app.post('/v1/sources/:source/backups', async (c) => {
    const source = c.req.param('source');
    if (!known(source)) return c.json(noSource(source), 404);
    const text = await c.req.text();
    let json: unknown = {};
    if (text.trim() !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        return c.json({ error: 'the body is not JSON' }, 400);
      }
    }
    const body = backupBody.safeParse(json);
    if (!body.success) return c.json({ error: issues(body.error) }, 400);
    // A client that retries sends the same Idempotency-Key and gets the same job.
    const key = c.req.header('idempotency-key') ?? crypto.randomUUID();
    if (key.length > 200) return c.json({ error: 'Idempotency-Key is longer than 200 characters' }, 400);
    const { job, created } = await svc.requestBackup(source, key, body.data.reason);
    return c.json({ job, created }, created ? 202 : 200);
  });

  app.get('/v1/jobs/:id', async (c) => {
    const job = await svc.catalog.getJob(c.req.param('id'));
    return job ? c.json({ job }) : c.json({ error: `no job ${c.req.param('id')}` }, 404);
  });

  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((err, c) => c.json({ error: err.message }, 500));
  return app;
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
