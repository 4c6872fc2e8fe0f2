import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TokenVerifier } from '../../lib/security/tokens';
import { type LocalIssuer, localIssuer } from './local-issuer';
import { BASE, testApi } from './support';

let issuer: LocalIssuer;

beforeAll(async () => {
  issuer = await localIssuer();
});

const auth = () => ({ auth: issuer.auth });
const bearer = (sub: string) => issuer.bearer({ sub, roles: ['operator'] });

describe('authentication', () => {
  it('no token: 401 with WWW-Authenticate: Bearer and what to send', async () => {
    const { app } = await testApi({ extra: auth() });
    const res = await app.request(`${BASE}/v1/sources`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="zapas"');
    expect(await res.json()).toEqual({ error: 'no bearer token: send Authorization: Bearer <token>' });
  });

  it('a refused token: 401 with the reason in WWW-Authenticate and the body, the token never echoed', async () => {
    const { app, logged } = await testApi({ extra: auth() });
    const authorization = await issuer.bearer({ sub: 'alice', roles: ['admin'] }, { expiresIn: -120 });
    const expired = authorization.slice('Bearer '.length);
    const res = await app.request(`${BASE}/v1/sources`, { headers: { authorization } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="zapas", error="invalid_token", error_description="the token has expired"',
    );
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'the token has expired' });
    const everything = `${text} ${[...res.headers].join(' ')} ${logged.join(' ')}`;
    for (const part of expired.split('.')) expect(everything).not.toContain(part);
    expect(everything).not.toContain('alice');

    const basic = await app.request(`${BASE}/v1/sources`, {
      headers: { authorization: 'Basic YWxpY2U6cHc=' },
    });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as { error: string }).error).toBe(
      'the Authorization header is not of the Bearer scheme',
    );
    const garbage = await app.request(`${BASE}/v1/sources`, { headers: { authorization: 'Bearer a.b"c.d' } });
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).not.toContain('a.b');
  });

  it('while the issuer keys cannot be had: 503 with Retry-After, the detail only in the log', async () => {
    const settings = auth().auth;
    const verifier = TokenVerifier.fromSettings(settings, dirname(issuer.jwks), { fileCheckMs: 0 });
    const { app, logged } = await testApi({ extra: auth(), protections: { verifier } });
    const token = await bearer('alice');
    expect((await app.request(`${BASE}/v1/sources`, { headers: { authorization: token } })).status).toBe(200);
    await writeFile(issuer.jwks, '{ not json');
    try {
      const res = await app.request(`${BASE}/v1/sources`, { headers: { authorization: token } });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('30');
      const text = await res.text();
      expect(text).not.toContain(issuer.jwks);
      expect(JSON.parse(text)).toEqual({
        error: "the token issuer's keys cannot be had now: try again later",
      });
      expect(logged.join('\n')).toContain("the token issuer's keys cannot be had");
    } finally {
      await issuer.restore();
    }
  });

  it('rate limits count a principal by its subject, from any address, and anyone else by address', async () => {
    const { app } = await testApi({ extra: auth(), api: { requests: { perSecond: 2, burst: 0 } } });
    const get = async (authorization: string | undefined, address: string) =>
      (
        await app.request(`${BASE}/v1/sources`, {
          headers: { 'x-test-client': address, ...(authorization ? { authorization } : {}) },
        })
      ).status;
    const alice = await bearer('alice');
    const bob = await bearer('bob');
    expect([await get(alice, 'A'), await get(alice, 'B'), await get(alice, 'C')]).toEqual([200, 200, 429]);
    expect(await get(bob, 'A')).toBe(200);
    // Requests without a valid token are counted by address: a flood of them is limited too.
    expect([await get(undefined, 'A'), await get('Bearer x.y.z', 'A'), await get(undefined, 'A')]).toEqual([
      401, 401, 429,
    ]);
    expect(await get(undefined, 'B')).toBe(401);
  });

  it('health answers without a token', async () => {
    const { app } = await testApi({ extra: auth() });
    expect((await app.request(`${BASE}/v1/health`)).status).toBe(200);
    expect((await app.request(`${BASE}/v1/health`, { method: 'HEAD' })).status).toBe(200);
  });
});
