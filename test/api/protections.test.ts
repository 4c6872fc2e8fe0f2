import type { Catalog } from '../../lib/catalog/catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { BASE, testApi } from './support';

const PROTOTYPE_NAMES = [
  'constructor',
  '__proto__',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
];

describe('prototype names never reach a lookup', () => {
  const paths = (name: string) => [
    ['GET', `/v1/jobs/${name}`, `no job "${name}"`],
    ['GET', `/v1/sources/${name}/jobs`, `no source "${name}"`],
    ['POST', `/v1/sources/${name}/backups`, `no source "${name}"`],
  ];

  it.each(PROTOTYPE_NAMES)('%s → 404 with what was not found', async (name) => {
    const { app, logged } = await testApi();
    for (const [method, path, error] of paths(name)) {
      const res = await app.request(`${BASE}${path}`, { method });
      expect({ path, status: res.status, body: await res.json() }).toEqual({
        path,
        status: 404,
        body: { error },
      });
    }
    expect(logged).toEqual([]);
  });

  it('a job id not shaped as the catalog makes them is never looked up', async () => {
    const catalog = await EmbeddedCatalog.open();
    const asked: string[] = [];
    const spy = Object.assign(Object.create(catalog) as Catalog, {
      getJob: (id: string) => {
        asked.push(id);
        return catalog.getJob(id);
      },
    });
    const { app } = await testApi({ catalog: spy });
    for (const id of ['constructor', 'j-../../x', 'J-0123456789ABCDEF01234567', 'x'.repeat(5000)]) {
      const res = await app.request(`${BASE}/v1/jobs/${encodeURIComponent(id)}`);
      expect(res.status).toBe(404);
      // What a client sent is echoed cut short.
      expect(((await res.json()) as { error: string }).error.length).toBeLessThan(130);
    }
    expect(asked).toEqual([]);
    const good = 'j-0123456789abcdef01234567';
    expect((await app.request(`${BASE}/v1/jobs/${good}`)).status).toBe(404);
    expect(new Set(asked)).toEqual(new Set([good]));
  });
});

describe('errors', () => {
  it('a failure answers 500 "internal error" with a correlation id; the detail goes only to the log', async () => {
    const catalog = await EmbeddedCatalog.open();
    const broken = Object.assign(Object.create(catalog) as Catalog, {
      listJobs: () => Promise.reject(new Error('SQLITE_CORRUPT at /srv/secret/catalog.db')),
    });
    const { app, logged } = await testApi({ catalog: broken });
    const res = await app.request(`${BASE}/v1/sources/saves/jobs`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toMatch(/SQLITE|secret|catalog\.db/);
    const { error, id } = JSON.parse(text) as { error: string; id: string };
    expect(error).toBe('internal error');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(id);
    expect(logged[0]).toContain('SQLITE_CORRUPT at /srv/secret/catalog.db');
    // The id is the request's correlation id: the one it brought, when valid, else a new one.
    expect(res.headers.get('x-correlation-id')).toBe(id);
    const brought = await app.request(`${BASE}/v1/sources/saves/jobs`, {
      headers: { 'x-correlation-id': 'deploy-42.7' },
    });
    expect(((await brought.json()) as { id: string }).id).toBe('deploy-42.7');
    expect(logged[1]).toContain('deploy-42.7');
    const bad = await app.request(`${BASE}/v1/sources/saves/jobs`, {
      headers: { 'x-correlation-id': 'has space' },
    });
    expect(((await bad.json()) as { id: string }).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an unknown route is 404 naming it, the name cut short', async () => {
    const { app } = await testApi();
    const res = await app.request(`${BASE}/v1/${'a'.repeat(1000)}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/^no route GET \/v1\/a+…$/);
  });
});

describe('body limit', () => {
  const stream = (bytes: number, chunk = 64 * 1024) => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent >= bytes) return ctl.close();
        const n = Math.min(chunk, bytes - sent);
        sent += n;
        ctl.enqueue(new Uint8Array(n).fill(32));
      },
    });
  };
  const post = (app: Awaited<ReturnType<typeof testApi>>['app'], init: RequestInit) =>
    app.request(`${BASE}/v1/sources/saves/backups`, { method: 'POST', ...init });

  it('refuses a declared Content-Length over 1 MiB without reading the body', async () => {
    const { app } = await testApi();
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        pulled++;
        ctl.enqueue(new Uint8Array(1024));
      },
    });
    const res = await post(app, {
      body,
      headers: { 'content-length': String(64 * 1024 * 1024) },
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ error: 'the request body is larger than 1048576 bytes' });
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it('counts a body of unknown length and stops at the first chunk past the limit', async () => {
    const { app } = await testApi();
    const res = await post(app, { body: stream(64 * 1024 * 1024), duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    // One byte under the limit (spaces around the JSON) is read and taken.
    const padded = `{}${' '.repeat(1024 * 1024 - 2)}`;
    expect((await post(app, { body: padded })).status).toBe(202);
    expect((await post(app, { body: `${padded} ` })).status).toBe(413);
  });

  it('follows api.maxBodyBytes', async () => {
    const { app } = await testApi({ api: { maxBodyBytes: 2048 } });
    expect((await post(app, { body: `{}${' '.repeat(2046)}` })).status).toBe(202);
    expect((await post(app, { body: `{}${' '.repeat(2047)}` })).status).toBe(413);
  });
});

describe('Origin, Sec-Fetch-Site and Host', () => {
  const sources = (
    app: Awaited<ReturnType<typeof testApi>>['app'],
    headers: Record<string, string>,
    method = 'GET',
  ) => app.request(`${BASE}/v1/sources${method === 'POST' ? '/saves/backups' : ''}`, { method, headers });

  it('refuses a foreign Origin for every method, takes the own origin and the allowed ones', async () => {
    const { app } = await testApi({ api: { allowedOrigins: ['https://console.example/'] } });
    for (const method of ['GET', 'POST']) {
      for (const origin of [
        'http://evil.example',
        'null',
        'http://zapas.test:8080',
        'https://zapas.test',
        'http://zapas.test.evil',
      ])
        expect({ method, origin, status: (await sources(app, { origin }, method)).status }).toEqual({
          method,
          origin,
          status: 403,
        });
      expect((await sources(app, { origin: 'http://zapas.test' }, method)).status).toBeLessThan(300);
      expect((await sources(app, { origin: 'https://console.example' }, method)).status).toBeLessThan(300);
    }
    const res = await sources(app, { origin: 'http://evil.example' }, 'POST');
    expect(await res.json()).toEqual({ error: 'requests from origin "http://evil.example" are refused' });
  });

  it('answers a CORS preflight of an allowed origin (and lets it read the answers), never of another', async () => {
    const { app } = await testApi({ api: { allowedOrigins: ['https://console.example'] } });
    const preflight = (origin: string) =>
      app.request(`${BASE}/v1/sources/saves/backups`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
    const ok = await preflight('https://console.example');
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://console.example');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET,HEAD,POST,DELETE');
    expect(ok.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(ok.headers.get('access-control-allow-credentials')).toBeNull();
    const foreign = await preflight('https://evil.example');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const read = await app.request(`${BASE}/v1/sources`, { headers: { origin: 'https://console.example' } });
    expect(read.headers.get('access-control-allow-origin')).toBe('https://console.example');
    // Without allowed origins, no CORS at all.
    const { app: plain } = await testApi();
    const none = await plain.request(`${BASE}/v1/sources`, { headers: { origin: 'http://zapas.test' } });
    expect(none.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a browser request marked cross-site or same-site, takes same-origin, none and no header', async () => {
    const { app } = await testApi();
    for (const site of ['cross-site', 'same-site', 'Cross-Site'])
      expect((await sources(app, { 'sec-fetch-site': site })).status).toBe(403);
    for (const site of ['same-origin', 'none'])
      expect((await sources(app, { 'sec-fetch-site': site })).status).toBe(200);
    expect((await sources(app, {})).status).toBe(200);
    // An allowed origin from a sibling subdomain is same-site: its Origin is what decides.
    const { app: withConsole } = await testApi({ api: { allowedOrigins: ['https://console.zapas.test'] } });
    const ok = await sources(withConsole, {
      origin: 'https://console.zapas.test',
      'sec-fetch-site': 'same-site',
    });
    expect(ok.status).toBe(200);
  });

  it('answers 421 to a Host it does not serve (DNS rebinding)', async () => {
    const { app } = await testApi();
    const res = await app.request('http://attacker.example/v1/health');
    expect(res.status).toBe(421);
    expect(await res.json()).toEqual({
      error: 'this server does not answer to the host name "attacker.example"',
    });
    expect((await app.request('http://ZAPAS.test/v1/health')).status).toBe(200);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a client has used its allowance, per client, health exempt', async () => {
    const { app } = await testApi({ api: { requests: { perSecond: 2, burst: 3 } } });
    const get = (client: string) =>
      app.request(`${BASE}/v1/sources`, { headers: { 'x-test-client': client } });
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await get('a')).status);
    // 2 in the second, 3 more from the burst allowance.
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    const limited = await get('a');
    expect(limited.status).toBe(429);
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(((await limited.json()) as { error: string }).error).toMatch(
      /^too many requests: try again in \d+ s$/,
    );
    // Another client has its own allowance; health answers anyone.
    expect((await get('b')).status).toBe(200);
    expect((await app.request(`${BASE}/v1/health`, { headers: { 'x-test-client': 'a' } })).status).toBe(200);
  });

  it('counts writes on their own, lower allowance', async () => {
    const { app } = await testApi({
      api: { writes: { perSecond: 1, burst: 1 }, maxQueuedJobsPerSource: 100 },
    });
    const post = () => app.request(`${BASE}/v1/sources/saves/backups`, { method: 'POST' });
    expect([(await post()).status, (await post()).status, (await post()).status]).toEqual([202, 202, 429]);
    expect((await app.request(`${BASE}/v1/sources`)).status).toBe(200);
  });
});

describe('queued backups per source', () => {
  it('refuses one more than the cap with 409 naming the jobs, even when asked all at once', async () => {
    const { app, catalog } = await testApi({ api: { writes: { perSecond: 1000, burst: 0 } } });
    const post = (key?: string) =>
      app.request(`${BASE}/v1/sources/saves/backups`, {
        method: 'POST',
        headers: key ? { 'idempotency-key': key } : {},
      });
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => post(`k${i}`)));
    const statuses = all.map((r) => r.status).sort();
    expect(statuses).toEqual([...Array(3).fill(202), ...Array(17).fill(409)]);
    expect(await catalog.listJobs('saves', { state: 'queued' })).toHaveLength(3);
    const refused = all.find((r) => r.status === 409)!;
    const body = (await refused.json()) as { error: string; jobs: { id: string }[] };
    expect(body.error).toMatch(/already has 3 backups queued or running/);
    expect(body.jobs).toHaveLength(3);
    // Another source is not held back.
    expect((await app.request(`${BASE}/v1/sources/payments/backups`, { method: 'POST' })).status).toBe(202);
    // A retry with the key of a job that exists gets that job, cap or not.
    const created = all.find((r) => r.status === 202)!;
    const { job } = (await created.json()) as { job: { id: string; trigger: { ref: string } } };
    const again = await post(job.trigger.ref);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { job: { id: string } }).job.id).toBe(job.id);
    // Once one has finished, one more is taken.
    await catalog.transition(job.id, 'queued', 'cancelled');
    expect((await post('after')).status).toBe(202);
    expect((await post('after-2')).status).toBe(409);
  });

  it('refuses a malformed Idempotency-Key', async () => {
    const { app } = await testApi();
    for (const key of ['a'.repeat(201), 'with space', 'tab\there'])
      expect(
        (
          await app.request(`${BASE}/v1/sources/saves/backups`, {
            method: 'POST',
            headers: { 'idempotency-key': key },
          })
        ).status,
      ).toBe(400);
  });
});
