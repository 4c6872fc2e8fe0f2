import { API_ROUTES } from '../../lib/api/routes';
import { ACTIONS } from '../../lib/security/permissions';
import { makeKey, signToken, type TestKey } from '../security/token-kit';
import { type LocalIssuer, localIssuer } from './local-issuer';
import { BASE, testApi } from './support';

/**
 * Every route × every kind of caller → the status the API answers, with real tokens (ES256, a local
 * JWKS file). A route added to the table without a row here, or to the app outside the table, fails.
 */

/** The callers: a token's claims, or none (no Authorization header), or a token of a key not in the set. */
const CALLERS = {
  admin: { roles: ['admin'] },
  operator: { roles: ['operator'] },
  dba: { roles: ['dba'] },
  auditor: { roles: ['auditor'] },
  'service of saves': { roles: ['service'], sources: ['saves'] },
  'service of payments': { roles: ['service'], sources: ['payments'] },
  player: { roles: ['player'] },
  'no role': { roles: [] },
  'unknown role': { roles: ['root'] },
  anonymous: 'no token',
  forged: 'foreign key',
} as const;
type Caller = keyof typeof CALLERS;
const NAMES = Object.keys(CALLERS) as Caller[];

/**
 * Per route: the request made, and the expected status per caller, in the order of CALLERS: admin,
 * operator, dba, auditor, service of saves, service of payments, player, no role, unknown role,
 * anonymous, forged.
 */
const MATRIX: Record<
  string,
  { request: (jobId: string, caller: number) => [string, string, unknown?]; expect: number[] }
> = {
  'GET /v1/health': {
    request: () => ['GET', '/v1/health'],
    expect: [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200],
  },
  'GET /v1/sources': {
    request: () => ['GET', '/v1/sources'],
    expect: [200, 200, 200, 200, 403, 403, 403, 403, 403, 401, 401],
  },
  'GET /v1/sources/:source/jobs': {
    request: () => ['GET', '/v1/sources/saves/jobs'],
    expect: [200, 200, 200, 200, 200, 403, 403, 403, 403, 401, 401],
  },
  'POST /v1/sources/:source/backups': {
    request: () => ['POST', '/v1/sources/saves/backups'],
    expect: [202, 202, 202, 403, 202, 403, 403, 403, 403, 401, 401],
  },
  'GET /v1/sources/:source/holds': {
    request: () => ['GET', '/v1/sources/saves/holds'],
    expect: [200, 200, 200, 200, 200, 403, 403, 403, 403, 401, 401],
  },
  'POST /v1/sources/:source/holds': {
    request: (_job, i) => ['POST', '/v1/sources/saves/holds', { id: `case-${i}`, reason: 'court order' }],
    expect: [201, 201, 403, 201, 403, 403, 403, 403, 403, 401, 401],
  },
  // Releasing a hold needs a second factor as well: without a code, no one gets through (see below).
  'DELETE /v1/sources/:source/holds/:hold': {
    request: () => ['DELETE', '/v1/sources/saves/holds/standing'],
    expect: [403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401],
  },
  // Each enrols its own second factor; a player or a token without a role has none to enrol.
  'POST /v1/auth/totp': {
    request: () => ['POST', '/v1/auth/totp'],
    expect: [201, 201, 201, 201, 201, 201, 403, 403, 403, 401, 401],
  },
  'GET /v1/audit': {
    request: () => ['GET', '/v1/audit'],
    expect: [200, 403, 403, 200, 403, 403, 403, 403, 403, 401, 401],
  },
  'GET /v1/jobs/:job': {
    request: (jobId) => ['GET', `/v1/jobs/${jobId}`],
    expect: [200, 200, 200, 200, 200, 403, 403, 403, 403, 401, 401],
  },
};

let issuer: LocalIssuer;
/** A key of the same algorithm and key id as the issuer's, not in its key set. */
let foreign: TestKey;

beforeAll(async () => {
  [issuer, foreign] = await Promise.all([localIssuer(), makeKey('ES256')]);
});

async function authorizationOf(caller: Caller): Promise<Record<string, string>> {
  const spec = CALLERS[caller];
  if (spec === 'no token') return {};
  if (spec === 'foreign key')
    return {
      authorization: `Bearer ${await signToken(foreign, { claims: { sub: 'mallory', roles: ['admin'] } })}`,
    };
  return { authorization: await issuer.bearer({ sub: caller, ...spec }) };
}

async function securedApi(access?: unknown) {
  const api = await testApi({
    security: true,
    api: {
      requests: { perSecond: 1000, burst: 0 },
      writes: { perSecond: 1000, burst: 0 },
      maxQueuedJobsPerSource: 1000,
    },
    extra: { auth: issuer.auth, ...(access ? { access } : {}) },
  });
  const { job } = await api.catalog.createJob({
    kind: 'backup',
    source: 'saves',
    trigger: { kind: 'http', ref: 'matrix' },
    priority: 5,
    idempotencyKey: 'http:saves:matrix',
  });
  await api.catalog.putHold({
    source: 'saves',
    id: 'standing',
    reason: 'court order 17',
    createdBy: 'dpo',
    createdAt: new Date().toISOString(),
  });
  return { ...api, jobId: job.id };
}

describe('authorization matrix', () => {
  it('every route of the app is in the route table, with a declared action, and has a row here', async () => {
    const { app } = await securedApi();
    const mounted = new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const table = new Set(API_ROUTES.map((r) => `${r.method} ${r.path}`));
    expect([...mounted].sort()).toEqual([...table].sort());
    for (const r of API_ROUTES) expect([...ACTIONS, 'public']).toContain(r.action);
    expect(Object.keys(MATRIX).sort()).toEqual([...table].sort());
  });

  it.each(API_ROUTES.map((r) => [`${r.method} ${r.path}`]))('%s', async (name) => {
    const row = MATRIX[name];
    if (!row) throw new Error(`no row for ${name} in the authorization matrix`);
    const { app, jobId } = await securedApi();
    const got: Record<string, number> = {};
    const want: Record<string, number> = {};
    for (const [i, caller] of NAMES.entries()) {
      const [method, path, body] = row.request(jobId, i);
      const res = await app.request(`${BASE}${path}`, {
        method,
        headers: { ...(await authorizationOf(caller)), 'idempotency-key': `matrix-${i}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      got[caller] = res.status;
      want[caller] = row.expect[i]!;
    }
    expect(got).toEqual(want);
  });

  it('access rules narrow every role but admin, route by route', async () => {
    const { app } = await securedApi([
      { sources: ['payments'], roles: ['dba', 'service'], allow: ['read', 'backup'] },
    ]);
    const ask = async (caller: Caller, method: string, path: string) =>
      (await app.request(`${BASE}${path}`, { method, headers: await authorizationOf(caller) })).status;
    expect(await ask('admin', 'GET', '/v1/sources/saves/jobs')).toBe(200);
    expect(await ask('operator', 'GET', '/v1/sources/saves/jobs')).toBe(403);
    expect(await ask('dba', 'GET', '/v1/sources/saves/jobs')).toBe(403);
    expect(await ask('dba', 'GET', '/v1/sources/payments/jobs')).toBe(200);
    expect(await ask('dba', 'POST', '/v1/sources/payments/backups')).toBe(202);
    expect(await ask('operator', 'POST', '/v1/sources/payments/backups')).toBe(403);
    expect(await ask('service of payments', 'POST', '/v1/sources/payments/backups')).toBe(202);
    expect(await ask('service of saves', 'POST', '/v1/sources/saves/backups')).toBe(403);
    // Listing all sources has no source to narrow by: the table alone decides.
    expect(await ask('operator', 'GET', '/v1/sources')).toBe(200);
  });
});
