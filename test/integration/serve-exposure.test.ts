import { join } from 'node:path';
import { send, serveFolder } from '../api/live-serve';
import { runCli } from '../support/cli';
import { type RunningServe, startServe } from '../support/serve';

/** What a real `zapas serve` lets in: browsers of other sites, other host names, other networks. */
describe('zapas serve exposure', () => {
  let dir = '';
  let serve: RunningServe;
  let port = '';

  beforeAll(async () => {
    ({ dir } = await serveFolder(
      'api:\n  allowedOrigins: [https://console.example]\n  allowedHosts: [backup.internal]\n',
    ));
    serve = await startServe(join(dir, 'zapas.yaml'), { cwd: dir, args: ['--init'] });
    port = new URL(serve.url).port;
  }, 60_000);

  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
  });

  const get = (headers: Record<string, string>, method = 'GET') =>
    send(`${serve.url}${method === 'POST' ? '/v1/sources/saves/backups' : '/v1/sources'}`, method, {
      host: `127.0.0.1:${port}`,
      ...headers,
    });

  it('says at start that it runs unauthenticated, on loopback only', () => {
    expect(serve.log()).toContain(
      'the API runs unauthenticated (no auth section in the configuration): loopback only, on 127.0.0.1',
    );
  });

  it('refuses a foreign Origin (403) for reads and writes, takes its own and the configured one', async () => {
    for (const method of ['GET', 'POST']) {
      const foreign = await get({ origin: 'http://evil.example' }, method);
      expect({ method, status: foreign.status }).toEqual({ method, status: 403 });
      expect(JSON.parse(foreign.body)).toEqual({
        error: 'requests from origin "http://evil.example" are refused',
      });
      // Another port of the same machine is another origin.
      expect((await get({ origin: 'http://127.0.0.1:1' }, method)).status).toBe(403);
      expect((await get({ origin: `http://127.0.0.1:${port}` }, method)).status).toBeLessThan(300);
      expect((await get({ origin: 'https://console.example' }, method)).status).toBeLessThan(300);
    }
  });

  it('refuses Sec-Fetch-Site cross-site and same-site (403), takes same-origin', async () => {
    expect((await get({ 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await get({ 'sec-fetch-site': 'cross-site' }, 'POST')).status).toBe(403);
    expect((await get({ 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect((await get({ 'sec-fetch-site': 'same-origin' })).status).toBe(200);
  });

  it('answers 421 to a Host it does not listen on (DNS rebinding), takes its address, localhost and the configured name', async () => {
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`]) {
      const r = await get({ host });
      expect({ host, status: r.status }).toEqual({ host, status: 421 });
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, 'backup.internal'])
      expect({ host, status: (await get({ host })).status }).toEqual({ host, status: 200 });
    // Even health: a rebinding page learns nothing.
    expect((await send(`${serve.url}/v1/health`, 'GET', { host: 'evil.example' })).status).toBe(421);
  });

  it('answers 404, never 500, for prototype names in a path', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
      for (const [method, path] of [
        ['GET', `/v1/jobs/${name}`],
        ['GET', `/v1/sources/${name}/jobs`],
        ['POST', `/v1/sources/${name}/backups`],
        ['GET', `/v1/sources/${name}/backups`],
      ] as const) {
        const r = await send(`${serve.url}${path}`, method, { host: `127.0.0.1:${port}` });
        expect({ path, method, status: r.status }).toEqual({ path, method, status: 404 });
        expect(JSON.parse(r.body).error).toMatch(/^no (job|source|route)/);
      }
  });

  it.each([['0.0.0.0'], ['::'], ['192.168.1.20'], ['10.0.0.5'], ['backup.example.com']])(
    'refuses --host %s without auth configured (exit 2, nothing listening)',
    async (host) => {
      const r = await runCli(['serve', '--config', join(dir, 'zapas.yaml'), '--host', host, '--port', '0']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--host ${host}: the configuration has no auth section`);
      expect(r.stderr).toContain('serve listens on loopback only');
      expect(r.stdout).not.toContain('API on');
    },
  );
});
