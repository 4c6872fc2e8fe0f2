/**
 * The API as a table: each route names its method, path, the action it performs and on what (for
 * authorization, lib/security/permissions.ts), and its handler. Mounting it puts the same checks in
 * front of every route, and a test can walk the table (every route × every role).
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { PROTOTYPE_NAMES } from '../security/names';
import type { Action, Target } from '../security/permissions';
import { echo, notFound } from './errors';
import type { JobCap } from './job-cap';
import type { ApiService } from './service';

/** `public`: answered to anyone who reaches the API (health only). */
export type RouteAction = Action | 'public';

/** What a route's functions are given besides the request. */
export interface RouteDeps {
  svc: ApiService;
  cap: JobCap;
  /** The client's address, for the audit trail and lockouts. */
  addressOf(c: Context): string | undefined;
}

export interface ApiRoute {
  method: 'GET' | 'POST' | 'DELETE';
  /** hono's pattern: `/v1/sources/:source/jobs`. */
  path: string;
  action: RouteAction;
  /** What the action is done to, from the request (its path parameters); may read the catalog. */
  targetOf: (c: Context, deps: RouteDeps) => Target | Promise<Target>;
  handler: (c: Context, deps: RouteDeps) => Response | Promise<Response>;
}

export function route(
  method: ApiRoute['method'],
  path: string,
  action: RouteAction,
  targetOf: ApiRoute['targetOf'],
  handler: ApiRoute['handler'],
): ApiRoute {
  return { method, path, action, targetOf, handler };
}

/** What a path parameter names, for "no such …" answers. */
const NOUNS: Record<string, string> = { source: 'source', job: 'job' };

/**
 * A path parameter that is a name every JavaScript object has (`constructor`, `__proto__`, …) names
 * nothing here: 404 before any lookup sees it.
 */
const refusePrototypeNames: MiddlewareHandler = async (c, next) => {
  for (const [name, value] of Object.entries(c.req.param() as Record<string, string>))
    if (PROTOTYPE_NAMES.has(value))
      return notFound(c, `no ${Object.hasOwn(NOUNS, name) ? NOUNS[name] : name} "${echo(value)}"`);
  return next();
};

/** Makes the middleware that decides whether a request may use a route (authentication, authorization). */
export type RouteGuard = (r: ApiRoute, deps: RouteDeps) => MiddlewareHandler;

/** Mounts the routes on `app`, each behind the prototype-name check and `guard`. */
export function mount(app: Hono, routes: readonly ApiRoute[], deps: RouteDeps, guard: RouteGuard): void {
  for (const r of routes)
    app.on(r.method, r.path, refusePrototypeNames, guard(r, deps), (c) => r.handler(c, deps));
}
