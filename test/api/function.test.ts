import { join } from 'node:path';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';

/** The api function's bundle (built by the jest global setup), as API Gateway (HTTP API, v2) calls it. */
let handler: (event: unknown) => Promise<unknown>;
let dynamo: DynamoServer;
let saved: NodeJS.ProcessEnv;

beforeAll(async () => {
  dynamo = await startDynamoServer();
  await new DynamoCatalog(dynamo.client(), 'zapas-api').ensureTable(dynamo.client());
  saved = { ...process.env };
  Object.assign(process.env, {
    ZAPAS_CONFIG: JSON.stringify({
      version: 1,
      repositories: { main: { url: 's3://bucket/repo', residency: 'RU' } },
      sources: { saves: { type: 'files', paths: ['/saves'], repository: 'main', dataClass: 'game-content' } },
      api: { writes: { perSecond: 1, burst: 5 } },
    }),
    ZAPAS_CATALOG_TABLE: 'zapas-api',
    ZAPAS_DYNAMODB_ENDPOINT: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
  // The bundle reads the environment at its first invocation and keeps its runtime, as an instance does.
  handler = require(join(__dirname, '..', '..', 'dist', 'functions', 'api', 'index.cjs')).handler;
});

afterAll(async () => {
  process.env = saved;
  await dynamo.stop();
});

type Answer = { statusCode: number; headers: Record<string, string>; body: string };

let request = 0;
function call(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return handler({
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers: { host: 'api.example', 'x-forwarded-for': '198.51.100.7', ...opts.headers },
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

  it('caps queued backups (409), and its rate limits count across invocations (429 with Retry-After passed on)', async () => {
    const statuses: number[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 10; i++) {
      const r = await call('POST', '/v1/sources/saves/backups', {
        headers: { 'idempotency-key': `k${i}`, 'x-forwarded-for': '10.1.1.1, 192.0.2.1' },
      });
      statuses.push(r.statusCode);
      if (r.statusCode === 429) limited ??= r;
    }
    // 1 per second plus 5 per minute: 6 taken (7 if the second turned meanwhile): 3 jobs, then the cap.
    expect(statuses.slice(0, 6)).toEqual([202, 202, 202, 409, 409, 409]);
    expect(statuses.slice(6).filter((s) => s === 429).length).toBeGreaterThanOrEqual(3);
    expect(statuses.slice(6).every((s) => s === 429 || s === 409)).toBe(true);
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another client is not held back by the first one's limit (the cap still holds).
    const other = await call('POST', '/v1/sources/saves/backups', {
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(other.statusCode).toBe(409);
  });
});
