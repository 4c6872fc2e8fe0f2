/**
 * The HTTP API's routes, validated with zod: sources and their state, a source's jobs, one job, and
 * asking for a backup. The routing and validation layer the api function and `zapas serve` share; the
 * protections in front of it are composed in app.ts.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { JOB_STATES } from '../catalog/jobs';
import { NAME_PATTERN } from '../security/names';
import type { Target } from '../security/permissions';
import { OTP_HEADER, StepUpError } from '../security/totp';
import { principalOf } from './authenticate';
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

/** A legal hold as a client places it: its id (a name), why, and the snapshots it covers (all when absent). */
const holdBody = z
  .object({
    id: z.string().regex(NAME_PATTERN, 'a hold id is 1–63 lowercase letters, digits, ".", "-" or "_"'),
    reason: z.string().min(1).max(500),
    snapshots: z
      .array(z.string().regex(/^[0-9a-f]{64}$/, 'a snapshot id (64 hex digits)'))
      .min(1)
      .max(1000)
      .optional(),
  })
  .strict();

const auditQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional(),
  repository: z.string().max(63).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** The body as JSON (an empty body is `{}`), or the answer that it is not. */
async function jsonBody(c: Context): Promise<{ json: unknown } | { answer: Response }> {
  const text = await c.req.text();
  if (text.trim() === '') return { json: {} };
  try {
    return { json: JSON.parse(text) };
  } catch {
    return { answer: c.json({ error: 'the body is not JSON' }, 400) };
  }
}

/** The hold a route names, with its source's target. */
function holdTarget(c: Context, deps: RouteDeps): Target {
  return { ...sourceTarget(c, deps), hold: c.req.param('hold')! };
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
    const sent = await jsonBody(c);
    if ('answer' in sent) return sent.answer;
    const body = backupBody.safeParse(sent.json);
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

  route('GET', '/v1/sources/:source/holds', 'read', sourceTarget, async (c, deps) => {
    const source = c.req.param('source')!;
    if (!known(deps, source)) return noSource(c, source);
    return c.json({ holds: await deps.svc.catalog.listHolds(source) });
  }),

  route('POST', '/v1/sources/:source/holds', 'hold', sourceTarget, async (c, deps) => {
    const source = c.req.param('source')!;
    if (!known(deps, source)) return noSource(c, source);
    const body = await jsonBody(c);
    if ('answer' in body) return body.answer;
    const hold = holdBody.safeParse(body.json);
    if (!hold.success) return c.json({ error: issues(hold.error) }, 400);
    const holds = await deps.svc.catalog.listHolds(source);
    if (holds.some((h) => h.id === hold.data.id))
      return c.json({ error: `source "${source}" has a hold "${hold.data.id}" already` }, 409);
    const placed = {
      source,
      id: hold.data.id,
      reason: hold.data.reason,
      ...(hold.data.snapshots ? { snapshots: hold.data.snapshots } : {}),
      createdBy: principalOf(c)?.subject ?? 'loopback client',
      createdAt: new Date().toISOString(),
    };
    await deps.svc.catalog.putHold(placed);
    return c.json({ hold: placed }, 201);
  }),

  route('DELETE', '/v1/sources/:source/holds/:hold', 'release-hold', holdTarget, async (c, deps) => {
    const source = c.req.param('source')!;
    if (!known(deps, source)) return noSource(c, source);
    const id = c.req.param('hold')!;
    return (await deps.svc.catalog.removeHold(source, id))
      ? c.body(null, 204)
      : c.json({ error: `source "${source}" has no hold "${echo(id)}"` }, 404);
  }),

  route(
    'POST',
    '/v1/auth/totp',
    'enrol',
    (c) => {
      const subject = principalOf(c)?.subject;
      return subject ? { subject } : {};
    },
    async (c, { svc }) => {
      const principal = principalOf(c);
      if (!principal || !svc.security)
        return c.json(
          { error: 'a second factor is enrolled by a principal a token proves: configure auth:' },
          403,
        );
      const stepUp = await svc.security.stepUp();
      // Enrolling again replaces the factor: only with a current code of the old one.
      const current = c.req.header(OTP_HEADER);
      try {
        const enrolment = await stepUp.enrol(principal.subject, current ? { currentCode: current } : {});
        c.header('cache-control', 'no-store');
        return c.json({ enrolment }, 201);
      } catch (err) {
        if (err instanceof StepUpError) return c.json({ error: err.message, header: OTP_HEADER }, 409);
        throw err;
      }
    },
  ),

  route(
    'GET',
    '/v1/audit',
    'read-audit',
    () => ({}),
    async (c, { svc }) => {
      if (!svc.security) return c.json({ error: 'this service keeps no audit trail' }, 404);
      const q = auditQuery.safeParse(c.req.query());
      if (!q.success) return c.json({ error: issues(q.error) }, 400);
      const { since, repository, limit } = q.data;
      if (repository !== undefined && !Object.hasOwn(svc.config.repositories, repository))
        return c.json({ error: `no repository "${echo(repository)}"` }, 404);
      const events = [];
      const damaged = [];
      let more = false;
      for await (const r of svc.security.auditEvents(repository, since ? new Date(since) : undefined)) {
        if (events.length + damaged.length >= limit) {
          more = true;
          break;
        }
        if ('error' in r) damaged.push({ seq: r.seq, object: r.object, error: r.error.message });
        else events.push(r.event);
      }
      return c.json({ events, damaged, more });
    },
  ),

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
