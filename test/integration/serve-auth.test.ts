import { join } from 'node:path';
import { send, serveFolder } from '../api/live-serve';
import { type LocalIssuer, localIssuer } from '../api/local-issuer';
import { type RunningServe, startServe } from '../support/serve';

/** A real `zapas serve` with `auth:`: every route but health needs a token, and it may leave loopback. */
describe('zapas serve with auth', () => {
  let serve: RunningServe;
  let issuer: LocalIssuer;
  let port = '';

  beforeAll(async () => {
    const { dir } = await serveFolder(
      'auth: { issuer: https://id.example.org, audience: zapas, jwks: ./jwks.json }\n',
    );
    issuer = await localIssuer(dir);
    // The configuration names the issuer the tokens are signed for.
    expect(issuer.auth).toMatchObject({ issuer: 'https://id.example.org', audience: 'zapas' });
    // Allowed off loopback once tokens are required; asked on 127.0.0.1, one of its addresses.
    serve = await startServe(join(dir, 'zapas.yaml'), { cwd: dir, args: ['--init', '--host', '0.0.0.0'] });
    port = new URL(serve.url).port;
  }, 60_000);

  afterAll(async () => {
    expect(await serve.stop()).toBe(0);
  });

  const ask = (method: string, path: string, headers: Record<string, string> = {}) =>
    send(`http://127.0.0.1:${port}${path}`, method, headers);
  const token = (roles: string[]) => issuer.bearer({ sub: `someone-${roles.join('-')}`, roles });

  it('starts on 0.0.0.0 without the unauthenticated warning', () => {
    expect(serve.url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/);
    expect(serve.log()).not.toContain('unauthenticated');
  });

  it('answers health to anyone, 401 without a token, 403 to a role without the grant, 2xx with it', async () => {
    expect((await ask('GET', '/v1/health')).status).toBe(200);
    const anonymous = await ask('GET', '/v1/sources');
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).error).toMatch(/^no bearer token/);
    expect((await ask('GET', '/v1/sources', { authorization: await token(['auditor']) })).status).toBe(200);
    const refused = await ask('POST', '/v1/sources/saves/backups', {
      authorization: await token(['auditor']),
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error).toBe('someone-auditor (auditor) may not backup source saves');
    const ok = await ask('POST', '/v1/sources/saves/backups', { authorization: await token(['dba']) });
    expect(ok.status).toBe(202);
    // A foreign Host is still refused, token or not.
    expect(
      (await ask('GET', '/v1/sources', { host: 'evil.example', authorization: await token(['admin']) }))
        .status,
    ).toBe(421);
  });
});
