/**
 * The api function's bundle (built by the jest global setup), as API Gateway (HTTP API, v2) calls it, on
 * loopback servers (test/functions/function-env.ts), with `auth:` and tokens from a local issuer.
 */
import { type FunctionEnv, functionEnv, type Handler } from '../functions/function-env';
import { type LocalIssuer, localIssuer } from './local-issuer';

let handler: Handler;
let env: FunctionEnv;
let issuer: LocalIssuer;
/** `Bearer <token>` of an operator (backs up any source). */
let operator: string;

beforeAll(async () => {
  env = await functionEnv();
  issuer = await localIssuer();
  operator = await issuer.bearer({ roles: ['operator'] });
  // The bundle reads the configuration at its first invocation and keeps its runtime, as an instance does.
  handler = env.load('api', {
    version: 1,
    repositories: { main: env.repository },
    sources: { saves: { type: 'files', paths: ['/saves'], repository: 'main', dataClass: 'game-content' } },
    auth: issuer.auth,
    // Refused tokens below must not lock an address out before the rate limit is seen.
    detection: { enabled: false },
    api: { writes: { perSecond: 1, burst: 5 } },
  });
}, 60_000);

afterAll(() => env?.stop());

type Answer = { statusCode: number; headers: Record<string, string>; body: string };

let request = 0;
/** A request with the operator's token unless `headers` gives another `authorization` ('' for none). */
function call(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const { authorization = operator, ...headers } = opts.headers ?? {};
  return handler({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: {
      host: 'api.example',
      'x-forwarded-for': '198.51.100.7',
      ...(authorization ? { authorization } : {}),
      ...headers,
    },
    requestContext: { http: { method, path }, requestId: `r${request++}` },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    isBase64Encoded: false,
  }) as Promise<Answer>;
}

describe('the api function', () => {
  it('refuses a body over 1 MiB with 413, whatever Content-Length the event says', async () => {
    const body = `{}${' '.repeat(2 * 1024 * 1024)}`;
    const r = await call('POST', '/v1/sources/saves/backups', { body, headers: { 'content-length': '2' } });
    expect(r.statusCode).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: 'the request body is larger than 1048576 bytes' });
  });

  it('refuses a foreign Origin (403) and takes its own', async () => {
    expect(
      (await call('GET', '/v1/sources', { headers: { origin: 'https://evil.example' } })).statusCode,
    ).toBe(403);
    expect(
      (await call('GET', '/v1/sources', { headers: { origin: 'https://api.example' } })).statusCode,
    ).toBe(200);
  });

  it('answers 404 for prototype names', async () => {
    for (const path of ['/v1/jobs/constructor', '/v1/sources/__proto__/jobs', '/v1/sources/toString/backups'])
      expect((await call(path.endsWith('backups') ? 'POST' : 'GET', path)).statusCode).toBe(404);
  });

  it('caps queued backups (409), and its rate limits count a principal across invocations and addresses (429 with Retry-After passed on)', async () => {
    // A principal of its own: the tests above spent some of the operator's writes.
    const carol = await issuer.bearer({ sub: 'carol', roles: ['operator'] });
    const statuses: number[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await call('POST', '/v1/sources/saves/backups', {
        headers: {
          authorization: carol,
          'idempotency-key': `k${i}`,
          'x-forwarded-for': `10.1.1.1, 192.0.2.${i + 1}`,
        },
      });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) limited ??= r;
    }
    // 1 per second plus 5 per minute: 6 taken (7 if the second turned meanwhile): 3 jobs, then the cap.
    expect(statuses.slice(0, 6)).toEqual([202, 202, 202, 409, 409, 409]);
    expect(statuses.slice(6).filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect(statuses.slice(6).every((s) => s === 429 || s === 409)).toBe(true);
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another principal is not held back by the first one's limit (the cap still holds).
    const other = await call('POST', '/v1/sources/saves/backups', {
      headers: { authorization: await issuer.bearer({ sub: 'bob', roles: ['operator'] }) },
    });
    expect(other.statusCode).toBe(409);
  });

  it('without a token, counts by the address the gateway saw (the last X-Forwarded-For entry)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await call('POST', '/v1/sources/saves/backups', {
        headers: { authorization: '', 'x-forwarded-for': `10.9.9.${i}, 192.0.2.200` },
      });
      statuses.push(r.statusCode);
    }
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(statuses.slice(6)).toContain(429);
    // The same forged first entry from another gateway-seen address is not held back.
    const other = await call('POST', '/v1/sources/saves/backups', {
      headers: { authorization: '', 'x-forwarded-for': '10.9.9.0, 192.0.2.201' },
    });
    expect(other.statusCode).toBe(401);
  });
});
