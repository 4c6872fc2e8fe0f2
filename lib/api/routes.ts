/**
 * The HTTP API's routes, validated with zod: sources and their state, a source's jobs, one job, and
 * asking for a backup. The routing and validation layer the api function and `zapas serve` share; the
 * protections in front of it are composed in app.ts.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { JOB_STATES } from '../catalog/jobs';
import type { Target } from '../security/permissions';
import { echo } from './errors';
import { type ApiRoute, type RouteDeps, route } from './route-table';

const jobsQuery = z.object({
  state: z.enum(JOB_STATES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

const backupBody = z.object({ reason: z.string().max(500).optional() }).strict();

/** A job id as the catalog makes them (lib/catalog/jobs.ts jobIdOf): anything else names no job. */
const JOB_ID = /^j-[0-9a-f]{24}$/;
/** An Idempotency-Key: up to 200 visible ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

const known = ({ svc }: RouteDeps, source: string) => Object.hasOwn(svc.config.sources, source);
const noSource = (c: Context, source: string) => c.json({ error: `no source "${echo(source)}"` }, 404);

/** The source a route names, with its data class when it is configured. */
function sourceTarget(c: Context, deps: RouteDeps): Target {
  const source = c.req.param('source')!;
  return known(deps, source) ? { source, dataClass: deps.svc.config.sources[source]!.dataClass } : { source };
}

/** The job a route names, when its id is one the catalog could have made. */
function namedJob(c: Context, { svc }: RouteDeps) {
  const id = c.req.param('job')!;
  return JOB_ID.test(id) ? svc.catalog.getJob(id) : Promise.resolve(undefined);
}

/** Every route of the API. A route not in this table does not exist. */
export const API_ROUTES: readonly ApiRoute[] = [
  route(
    'GET',
    '/v1/health',
    'public',
    () => ({}),
    (c, { svc }) =>
      c.json({ ok: true, sources: Object.keys(svc.config.sources).length, running: svc.running() }),
  ),

  route(
    'GET',
    '/v1/sources',
    'read',
    () => ({}),
    async (c, { svc }) => {
      const list = await Promise.all(
        Object.entries(svc.config.sources).map(async ([id, s]) => ({
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

  route('GET', '/v1/sources/:source/jobs', 'read', sourceTarget, async (c, deps) => {
    const source = c.req.param('source')!;
    if (!known(deps, source)) return noSource(c, source);
    const q = jobsQuery.safeParse(c.req.query());
    if (!q.success) return c.json({ error: issues(q.error) }, 400);
    return c.json({ jobs: await deps.svc.catalog.listJobs(source, q.data) });
  }),

  route('POST', '/v1/sources/:source/backups', 'backup', sourceTarget, async (c, deps) => {
    const { svc, cap } = deps;
    const source = c.req.param('source')!;
    if (!known(deps, source)) return noSource(c, source);
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
    async (c, deps) => {
      const job = await namedJob(c, deps);
      return job ? { source: job.source, dataClass: deps.svc.config.sources[job.source]?.dataClass } : {};
    },
    async (c, deps) => {
      const job = await namedJob(c, deps);
      return job ? c.json({ job }) : c.json({ error: `no job "${echo(c.req.param('job')!)}"` }, 404);
    },
  ),
];

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}
