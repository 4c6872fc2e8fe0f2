/**
 * The stage functions' security wiring, through their built bundles on loopback servers: the api function
 * verifies tokens itself and records refusals in the key repository's audit trail (alerts to the `alerts`
 * queue), fails closed without `auth:`, and the purge function records its purge as the service's own.
 */
import type { AuditEvent } from '../../lib/audit/event';
import { readAuditEvents } from '../../lib/audit/read-events';
import { type LocalIssuer, localIssuer } from '../api/local-issuer';
import { type FunctionEnv, functionEnv, type Handler } from './function-env';

let env: FunctionEnv;
let issuer: LocalIssuer;
let config: (extra: Record<string, unknown>) => Record<string, unknown>;

beforeAll(async () => {
  env = await functionEnv(['alerts']);
  issuer = await localIssuer();
  config = (extra) => ({
    version: 1,
    purge: { schedule: '* * * * *', grace: '0h' },
    repositories: { main: env.repository },
    sources: { saves: { type: 'files', paths: ['/saves'], repository: 'main', dataClass: 'game-content' } },
    ...extra,
  });
}, 60_000);

afterAll(() => env?.stop());

/** Every event of the one repository's audit trail, oldest first. */
async function trail(): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for await (const e of readAuditEvents(await env.openRepository())) {
    if ('error' in e) throw e.error;
    events.push(e.event);
  }
  return events;
}

type Answer = { statusCode: number; headers: Record<string, string>; body: string };

let request = 0;
/** An API Gateway (HTTP API, payload 2.0) request from `address`. */
function call(
  fn: Handler,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; address?: string } = {},
): Promise<Answer> {
  return fn({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'api.example', 'x-forwarded-for': opts.address ?? '198.51.100.7', ...opts.headers },
    requestContext: { http: { method, path }, requestId: `r${request++}` },
    isBase64Encoded: false,
  }) as Promise<Answer>;
}

describe('the api function with auth:', () => {
  let api: Handler;
  beforeAll(() => {
    api = env.load('api', config({ auth: issuer.auth, detection: { authFailures: { threshold: 3 } } }));
  });

  it('refuses a request without a token (401) and records it in the key repository’s audit trail', async () => {
    const before = (await trail()).length;
    const r = await call(api, 'GET', '/v1/sources', { address: '203.0.113.10' });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer/);
    const added = (await trail()).slice(before);
    expect(added).toEqual([
      expect.objectContaining({ action: 'authenticate', outcome: 'denied', origin: 'api' }),
    ]);
    expect(added[0]!.correlationId).toBe(r.headers['x-correlation-id']);
  });

  it('refuses a token signed by another key, and takes a good one', async () => {
    const stranger = await localIssuer();
    const forged = await call(api, 'GET', '/v1/sources', {
      address: '203.0.113.11',
      headers: { authorization: await stranger.bearer({ roles: ['operator'] }) },
    });
    expect(forged.statusCode).toBe(401);
    const good = await call(api, 'GET', '/v1/sources', {
      address: '203.0.113.12',
      headers: { authorization: await issuer.bearer({ roles: ['operator'] }) },
    });
    expect(good.statusCode).toBe(200);
    expect(JSON.stringify(JSON.parse(good.body))).toContain('saves');
  });

  it('failed authentications from one address past the threshold: a security alert on the alerts queue', async () => {
    for (let i = 0; i < 3; i++)
      expect((await call(api, 'GET', '/v1/sources', { address: '192.0.2.77' })).statusCode).toBe(401);
    const got = await env.queues.alerts!.receive({ max: 10, waitSeconds: 2 });
    const alerts = got.map((m) => JSON.parse(m.body) as Record<string, unknown>);
    expect(alerts).toContainEqual(
      expect.objectContaining({ type: 'security-alert', service: 'zapas', address: '192.0.2.77' }),
    );
  });
});

describe('the api function without auth: fails closed', () => {
  let api: Handler;
  beforeAll(() => {
    api = env.load('api', config({}));
  });

  it('answers 503 on every route but GET /v1/health, and records nothing', async () => {
    const before = (await trail()).length;
    for (const [method, path] of [
      ['GET', '/v1/sources'],
      ['GET', '/v1/sources/saves/jobs'],
      ['POST', '/v1/sources/saves/backups'],
      ['GET', '/v1/jobs/j-000000000000000000000000'],
      ['POST', '/v1/health'],
      ['GET', '/v1/nothing-here'],
    ]) {
      const r = await call(api, method!, path!, {
        headers: { authorization: await issuer.bearer({ roles: ['admin'] }) },
      });
      expect([method, path, r.statusCode, JSON.parse(r.body)]).toEqual([
        method,
        path,
        503,
        { error: 'the service has no auth configured' },
      ]);
    }
    const health = await call(api, 'GET', '/v1/health');
    expect(health.statusCode).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ ok: true, sources: 1 });
    expect((await trail()).length).toBe(before);
  });
});

describe('the purge function', () => {
  it('records its purge as a delete by the service itself (principal kind system)', async () => {
    const purge = env.load('purge', config({}));
    const before = (await trail()).length;
    await purge({
      version: '0',
      id: 't-purge',
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:events:us-east-1:000000000000:rule/zapas-dev-purge'],
      detail: {},
    });
    const added = (await trail()).slice(before);
    expect(added).toEqual([
      expect.objectContaining({ action: 'delete', outcome: 'allowed', origin: 'purge' }),
      expect.objectContaining({
        action: 'delete',
        outcome: 'succeeded',
        origin: 'purge',
        principal: expect.objectContaining({ kind: 'system' }),
        target: expect.objectContaining({ repository: 'main' }),
      }),
    ]);
  });
});
