/**
 * The api function: the HTTP API (/v1: health, sources, jobs, trigger a backup) behind API Gateway or a
 * Yandex API gateway; the routes and their protections are lib/api (app.ts), the same as `zapas serve`,
 * less the Host check (the gateway routes by host). The gateway has its own body limit; the body limit
 * here still refuses what passes it. The function verifies each token itself (the gateway's authorizer
 * keeps anonymous callers from starting it, no more), records refusals and actions in the audit trail,
 * and without `auth:` in the configuration refuses every route but GET /v1/health (503).
 */
import type { Hono } from 'hono';
import { apiApp } from '../../lib/api/app';
import type { ApiService } from '../../lib/api/service';
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { requestBackup } from '../../lib/pipeline/orchestrate';
import type { Runtime } from '../common/runtime';
import { stageHandler } from '../common/stage';

/** Headers of the answer passed back through the gateway (the rest are the gateway's to set). */
const PASSED_HEADERS = ['retry-after', 'www-authenticate', 'x-correlation-id'];

/** What the app is handed with each request (hono's `c.env`). */
interface Bindings {
  /** Who the request counts against for rate limits. */
  client: string;
}

/** One app per instance: its rate limits and queued-job cap count across invocations. */
const apps = new WeakMap<Runtime, Hono>();

function appOf(rt: Runtime): Hono {
  let app = apps.get(rt);
  if (!app) {
    const { security } = rt;
    const svc: ApiService = {
      config: rt.config,
      catalog: rt.catalog,
      requestBackup: (source, key) => requestBackup(rt.config, rt.catalog, source, key),
      running: () => 0,
      log: (line) => rt.log('api-error', { detail: line }),
      // The audit trail, lockouts and step-up (lib/pipeline/service-security.ts).
      security,
    };
    app = apiApp(svc, {
      addressOf: (c) => (c.env as Bindings).client,
      // The function verifies tokens itself, behind the gateway's authorizer or not.
      ...(security.verifier ? { verifier: security.verifier } : {}),
      // Reachable from anywhere: without `auth:` it serves nothing but /v1/health.
      requireAuth: true,
    });
    apps.set(rt, app);
  }
  return app;
}

async function api(rt: Runtime, e: NormalizedEvent): Promise<StageResult> {
  if (e.kind !== 'http') throw new Error(`the api function takes HTTP requests, not ${e.kind} events`);
  const app = appOf(rt);
  // The address the gateway saw: the last X-Forwarded-For entry (earlier ones are the client's to write).
  const client = e.headers['x-forwarded-for']?.split(',').pop()?.trim() || 'unknown';
  const query = new URLSearchParams(e.query).toString();
  // The body is counted as it is, not as a Content-Length header says.
  const { 'content-length': _declared, ...headers } = e.headers;
  const host = /^[A-Za-z0-9.-]+(:\d+)?$/.test(e.headers.host ?? '') ? e.headers.host : 'zapas';
  const path = e.path.startsWith('/') ? e.path : `/${e.path}`;
  const res = await app.fetch(
    new Request(`https://${host}${path}${query ? `?${query}` : ''}`, {
      method: e.method,
      headers,
      ...(e.method === 'GET' || e.method === 'HEAD' ? {} : { body: e.body }),
    }),
    { client } satisfies Bindings,
  );
  const passed: Record<string, string> = {};
  for (const name of PASSED_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) passed[name] = value;
  }
  return { kind: 'http', status: res.status, headers: passed, body: await res.text() };
}

export const handler = stageHandler('api', api);
