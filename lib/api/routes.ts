/**
 * The HTTP API's routes, validated with zod: sources and their state, a source's jobs, one job, and
 * asking for a backup. The routing and validation layer the api function and `zapas serve` share; the
 * protections in front of it are composed in app.ts.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { Catalog } from '../catalog/catalog';
import { JOB_STATES, type Job } from '../catalog/jobs';
import type { ZapasConfig } from '../pipeline/config/schema';
import type { Target } from '../security/permissions';
import { type ApiLog, echo } from './errors';
import type { JobCap } from './job-cap';
import { type ApiRoute, route } from './route-table';

export interface ApiService {
  config: ZapasConfig;
  catalog: Catalog;
  /** Creates (once per key) the job for a backup of `source` asked for over HTTP. */
  requestBackup(source: string, key: string, reason?: string): Promise<{ job: Job; created: boolean }>;
  /** Jobs running in this process, for /v1/health. */
  running(): number;
  /** Where failures are told (with the correlation id a 500 answer carries); default stderr. */
  log?: ApiLog;
}

const jobsQuery = z.object({
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const backupBody = z.object({ reason: z.string().max(500).optional() }).strict();

/** A job id as the catalog makes them (lib/catalog/jobs.ts jobIdOf): anything else names no job. */
const JOB_ID = /^j-[0-9a-f]{24}$/;
/** An Idempotency-Key: up to 200 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

export function apiRoutes(svc: ApiService, cap: JobCap): ApiRoute[] {
  const { sources } = svc.config;
  const known = (source: string) => Object.hasOwn(sources, source);
  const noSource = (c: Context, source: string) => c.json({ error: `no source "${echo(source)}"` }, 404);
  /** The source a route names, with its data class when it is configured. */
  const sourceTarget = (c: Context): Target => {
    const source = c.req.param('source')!;
    return known(source) ? { source, dataClass: sources[source]!.dataClass } : { source };
  };

  return [
    route(
      'GET',
      '/v1/health',
      'public',
      () => ({}),
      (c) => c.json({ ok: true, sources: Object.keys(sources).length, running: svc.running() }),
    ),

    route(
      'GET',
      '/v1/sources',
      'read',
      () => ({}),
      async (c) => {
        const list = await Promise.all(
          Object.entries(sources).map(async ([id, s]) => ({
            id,
            type: s.type,
            dataClass: s.dataClass,
            priority: s.priority,
            schedules: s.schedules.map((x) => x.cron),
            state: (await svc.catalog.getSourceState(id)) ?? null,
          })),
        );
        return c.json({ sources: list });
      },
    ),

    route('GET', '/v1/sources/:source/jobs', 'read', sourceTarget, async (c) => {
      const source = c.req.param('source')!;
      if (!known(source)) return noSource(c, source);
      const q = jobsQuery.safeParse(c.req.query());
      if (!q.success) return c.json({ error: issues(q.error) }, 400);
      return c.json({ jobs: await svc.catalog.listJobs(source, q.data) });
    }),

    route('POST', '/v1/sources/:source/backups', 'backup', sourceTarget, async (c) => {
      const source = c.req.param('source')!;
      if (!known(source)) return noSource(c, source);
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
      const given = c.req.header('idempotency-key');
      if (given !== undefined && !IDEMPOTENCY_KEY.test(given))
        return c.json({ error: 'Idempotency-Key is 1–200 visible ASCII characters' }, 400);
      const key = given ?? crypto.randomUUID();
      const r = await cap.request(source, given, () => svc.requestBackup(source, key, body.data.reason));
      if ('refused' in r)
        return c.json(
          {
            error: `source "${source}" already has ${r.active.length} backups queued or running; ask again when one has finished`,
            jobs: r.active.map((j) => ({ id: j.id, state: j.state })),
          },
          409,
        );
      return c.json({ job: r.job, created: r.created }, r.created ? 202 : 200);
    }),

    route(
      'GET',
      '/v1/jobs/:job',
      'read',
      async (c) => {
        const id = c.req.param('job')!;
        const job = JOB_ID.test(id) ? await svc.catalog.getJob(id) : undefined;
        return job ? { source: job.source, dataClass: sources[job.source]?.dataClass } : {};
      },
      async (c) => {
        const id = c.req.param('job')!;
        const job = JOB_ID.test(id) ? await svc.catalog.getJob(id) : undefined;
        return job ? c.json({ job }) : c.json({ error: `no job "${echo(id)}"` }, 404);
      },
    ),
  ];
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
