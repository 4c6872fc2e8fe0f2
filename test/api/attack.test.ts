import { Secret, TOTP } from 'otpauth';
import type { AuditEvent } from '../../lib/audit/event';
import { DEFAULT_DETECTION, IntrusionDetector } from '../../lib/audit/intrusion';
import type { Catalog } from '../../lib/catalog/catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { OTP_HEADER } from '../../lib/security/totp';
import { type LocalIssuer, localIssuer } from './local-issuer';
import { BASE, testApi } from './support';

/**
 * A security review's attacks on the API, each a test: where the defence holds the test says so; where
 * it did not, the test is named for the problem it found (fixed: it passes now; not fixed: `it.failing`,
 * which turns red once the problem is gone, so the marker is removed with the fix).
 */
let issuer: LocalIssuer;
beforeAll(async () => {
  issuer = await localIssuer();
});

const FAST = { requests: { perSecond: 10_000, burst: 0 }, writes: { perSecond: 10_000, burst: 0 } };

/** A catalog whose every call takes a few milliseconds, as a networked one does: requests interleave. */
function slow(catalog: Catalog): Catalog {
  return new Proxy(catalog, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await new Promise((ok) => setTimeout(ok, 1 + Math.random() * 4));
        return value.apply(target, args);
      };
    },
  });
}

async function securedApi(
  api: Record<string, unknown> = FAST,
  extra: Record<string, unknown> = {},
  catalog?: Catalog,
) {
  const t = await testApi({
    security: true,
    api,
    extra: { auth: issuer.auth, ...extra },
    ...(catalog ? { catalog } : {}),
  });
  const admin = await issuer.bearer({ sub: 'root-admin', roles: ['admin'] });
  const auditor = await issuer.bearer({ sub: 'inspector', roles: ['auditor'] });
  const ask = (method: string, path: string, headers: Record<string, string> = {}, client = 'one client') =>
    t.app.request(`${BASE}${path}`, { method, headers: { 'x-test-client': client, ...headers } });
  const trail = async (): Promise<AuditEvent[]> => {
    const res = await ask('GET', '/v1/audit?limit=1000', { authorization: auditor }, 'auditor desk');
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: AuditEvent[] }).events;
  };
  return { ...t, admin, auditor, ask, trail };
}

const codeOf = (secret: string) => TOTP.generate({ secret: Secret.fromBase32(secret) });

describe('attack: authentication bypass by path, method and header tricks (defences hold)', () => {
  it('no path variant of a protected route answers without a token', async () => {
    const { ask } = await securedApi();
    const paths = [
      '/v1/sources',
      '/v1/sources/',
      '//v1/sources',
      '/v1//sources',
      '/V1/sources',
      '/v1/sources/%73aves/jobs',
      '/v1/health/../sources',
      '/v1/health/%2e%2e/sources',
      '/v1/sources;x=1',
      '/v1/sources/saves;/jobs',
      '/v1/health/',
      '/v1/health?x=/v1/sources',
      '/v1/audit',
      '/v1/audit/',
      '/v1/sources/saves/jobs?access_token=x',
    ];
    for (const path of paths)
      for (const method of ['GET', 'HEAD', 'OPTIONS', 'POST', 'DELETE', 'PUT', 'PATCH']) {
        const res = await ask(method, path);
        if ((method === 'GET' || method === 'HEAD') && path.startsWith('/v1/health?')) continue;
        expect([`${method} ${path}`, res.status]).not.toEqual([`${method} ${path}`, 200]);
        // 429 once the address is locked out for its failed authentications.
        expect([401, 404, 429]).toContain(res.status);
      }
  });

  it('a token in the query string, two Authorization values, odd whitespace: refused', async () => {
    const api = await securedApi();
    const { admin } = api;
    const token = admin.slice('Bearer '.length);
    // A fresh client address each: five refusals from one would lock it out (see the known problem below).
    let n = 0;
    const ask = (method: string, path: string, headers: Record<string, string> = {}) =>
      api.ask(method, path, headers, `client ${n++}`);
    expect((await ask('GET', `/v1/sources?access_token=${token}`)).status).toBe(401);
    expect((await ask('GET', '/v1/sources', { authorization: `${admin}, ${admin}` })).status).toBe(401);
    expect((await ask('GET', '/v1/sources', { authorization: `Bearer\u00a0${token}` })).status).toBe(401);
    expect((await ask('GET', '/v1/sources', { authorization: `Bearer ${token}x` })).status).toBe(401);
    expect((await ask('GET', '/v1/sources', { authorization: `Bearer ${'a'.repeat(9000)}` })).status).toBe(
      401,
    );
    // The scheme's name in any case and tabs around it are RFC 7235's: accepted.
    expect((await ask('GET', '/v1/sources', { authorization: `bEARER \t${token} ` })).status).toBe(200);
  });

  it('HEAD on a protected route is guarded like GET', async () => {
    const { ask, admin } = await securedApi();
    expect((await ask('HEAD', '/v1/sources')).status).toBe(401);
    expect((await ask('HEAD', '/v1/sources', { authorization: admin })).status).toBe(200);
  });
});

describe('attack: authorization by token claims (defences hold)', () => {
  it('a service whose sources claim holds prototype names, or non-strings, gets nothing', async () => {
    const { ask } = await securedApi();
    const proto = await issuer.bearer({
      sub: 'svc',
      roles: ['service'],
      sources: ['__proto__', 'constructor'],
    });
    for (const path of [
      '/v1/sources/saves/jobs',
      '/v1/sources/__proto__/jobs',
      '/v1/sources/constructor/jobs',
    ])
      expect((await ask('GET', path, { authorization: proto })).status).not.toBe(200);
    const numbers = await issuer.bearer({ sub: 'svc', roles: ['service'], sources: [1, { a: 'saves' }] });
    expect((await ask('GET', '/v1/sources/saves/jobs', { authorization: numbers })).status).toBe(401);
    const string = await issuer.bearer({ sub: 'svc', roles: ['service'], sources: 'saves' });
    expect((await ask('GET', '/v1/sources/saves/jobs', { authorization: string })).status).toBe(401);
    const roles = await issuer.bearer({ sub: 'svc', roles: ['Admin', '__proto__', 'toString'] });
    expect((await ask('GET', '/v1/sources', { authorization: roles })).status).toBe(403);
  });

  it('access: rules narrow an operator to a data class; another class is refused', async () => {
    const { ask } = await securedApi(FAST, {
      access: [{ dataClasses: ['game-content'], roles: ['operator'], allow: ['read', 'backup'] }],
    });
    const op = await issuer.bearer({ sub: 'ops', roles: ['operator'] });
    expect((await ask('GET', '/v1/sources/saves/jobs', { authorization: op })).status).toBe(200);
    expect((await ask('GET', '/v1/sources/payments/jobs', { authorization: op })).status).toBe(403);
    expect((await ask('GET', '/v1/sources/payments/holds', { authorization: op })).status).toBe(403);
  });
});

describe('attack: the audit trail', () => {
  it('FIXED: a refused request cannot write huge or control-character strings from its path into the trail', async () => {
    const { ask, trail } = await securedApi();
    const player = await issuer.bearer({ sub: 'p-1', roles: ['player'] });
    // A terminal escape, a bidi override, a newline and 8 KiB from the path.
    const evil = encodeURIComponent(`\u001b[2J\u202e]  allowed\n${'A'.repeat(8000)}`);
    expect((await ask('GET', `/v1/sources/${evil}/jobs`, { authorization: player })).status).toBe(403);
    expect((await ask('DELETE', `/v1/sources/saves/holds/${evil}`, { authorization: player })).status).toBe(
      403,
    );
    const refused = (await trail()).filter((e) => e.principal.subject === 'p-1');
    expect(refused).toHaveLength(2);
    for (const e of refused) {
      const text = JSON.stringify({ target: e.target, reason: e.reason });
      expect(text.length).toBeLessThan(1200);
      for (const v of [...Object.values(e.target), e.reason ?? '']) expect(v).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    }
  });

  it('/v1/audit refuses odd query parameters', async () => {
    const { ask, auditor } = await securedApi();
    for (const q of [
      'repository=__proto__',
      'repository=constructor',
      'limit=0',
      'limit=1e9',
      'since=yesterday',
    ])
      expect([q, (await ask('GET', `/v1/audit?${q}`, { authorization: auditor })).status]).toEqual([
        q,
        q.startsWith('repository') ? 404 : 400,
      ]);
  });

  it('no token, code or secret reaches the trail or a log line', async () => {
    const { ask, admin, trail, logged } = await securedApi();
    const res = await ask('POST', '/v1/auth/totp', { authorization: admin });
    const { enrolment } = (await res.json()) as { enrolment: { secret: string } };
    const code = codeOf(enrolment.secret);
    expect(
      (await ask('DELETE', '/v1/sources/saves/holds/none', { authorization: admin, [OTP_HEADER]: '000000' }))
        .status,
    ).toBe(403);
    await ask('DELETE', '/v1/sources/saves/holds/none', { authorization: admin, [OTP_HEADER]: code });
    await ask('GET', '/v1/sources', { authorization: `${admin}x` });
    const everything = JSON.stringify(await trail()) + logged.join('\n');
    expect(everything).not.toContain(admin.slice('Bearer '.length).split('.')[2]!);
    expect(everything).not.toContain(enrolment.secret);
    expect(everything).not.toContain(code);
  });
});

describe('attack: step-up', () => {
  it('FIXED: concurrent wrong codes get no more guesses than the lockout allows', async () => {
    const { ask, admin, catalog } = await securedApi(FAST, {}, slow(await EmbeddedCatalog.open()));
    await catalog.putHold({
      source: 'saves',
      id: 'h1',
      reason: 'r',
      createdBy: 'x',
      createdAt: new Date().toISOString(),
    });
    expect((await ask('POST', '/v1/auth/totp', { authorization: admin })).status).toBe(201);
    const guesses = Array.from({ length: 40 }, (_, i) => String(100000 + i));
    const answers = await Promise.all(
      guesses.map(async (code) => {
        const res = await ask('DELETE', '/v1/sources/saves/holds/h1', {
          authorization: admin,
          [OTP_HEADER]: code,
        });
        return ((await res.json()) as { error: string }).error;
      }),
    );
    // A guess is checked when the answer says the code was wrong (not that the subject is locked out).
    const checked = answers.filter((a) => /^wrong one-time code/.test(a));
    expect(checked.length).toBeLessThanOrEqual(5);
  });

  it('codes with non-digits or of any length are wrong codes, never echoed', async () => {
    const { ask, admin } = await securedApi();
    expect((await ask('POST', '/v1/auth/totp', { authorization: admin })).status).toBe(201);
    for (const code of [
      '12345a',
      '\u00b9\u00b2\u00b3456',
      ' 123456789 ',
      '9'.repeat(4000),
      '-123456',
      '0x1e240',
    ]) {
      const res = await ask('DELETE', '/v1/sources/saves/holds/h', {
        authorization: admin,
        [OTP_HEADER]: code,
      });
      expect(res.status).toBe(403);
      expect(await res.text()).not.toContain(code.trim().slice(0, 20));
    }
  });

  it('enrolling over the API is for oneself only; a player cannot enrol', async () => {
    const { ask } = await securedApi();
    const player = await issuer.bearer({ sub: 'p-1', roles: ['player'] });
    expect((await ask('POST', '/v1/auth/totp', { authorization: player })).status).toBe(403);
    const a = await issuer.bearer({ sub: 'ann', roles: ['operator'] });
    const b = await issuer.bearer({ sub: 'bob', roles: ['operator'] });
    const ann = (await (await ask('POST', '/v1/auth/totp', { authorization: a })).json()) as {
      enrolment: { secret: string };
    };
    expect((await ask('POST', '/v1/auth/totp', { authorization: b })).status).toBe(201);
    // Bob cannot replace his factor with Ann's code.
    const res = await ask('POST', '/v1/auth/totp', {
      authorization: b,
      [OTP_HEADER]: codeOf(ann.enrolment.secret),
    });
    expect(res.status).toBe(409);
  });
});

describe('attack: lockouts and rate limits', () => {
  it('FIXED: anonymous garbage tokens from a shared address do not lock the valid users of that address out', async () => {
    const { ask, admin } = await securedApi();
    for (let i = 0; i < 5; i++)
      expect(
        (await ask('GET', '/v1/sources', { authorization: 'Bearer a.b.c' }, '198.51.100.7')).status,
      ).toBe(401);
    // An administrator behind the same NAT or reverse proxy, with a valid token:
    expect((await ask('GET', '/v1/sources', { authorization: admin }, '198.51.100.7')).status).toBe(200);
  });

  it('FIXED: subjects and addresses have a lockout namespace each (a subject named like an address)', async () => {
    const { ask, admin } = await securedApi();
    const odd = await issuer.bearer({ sub: '198.51.100.9', roles: ['admin'] });
    for (let i = 0; i < 5; i++)
      await ask(
        'DELETE',
        '/v1/sources/saves/holds/h',
        { authorization: odd, [OTP_HEADER]: '000000' },
        'elsewhere',
      );
    // The subject "198.51.100.9" is locked out, not the address of that name:
    expect((await ask('GET', '/v1/sources', { authorization: admin }, '198.51.100.9')).status).toBe(200);
  });

  it('forged tokens with many subjects count against the one address', async () => {
    const { ask } = await securedApi({ requests: { perSecond: 1, burst: 5 }, writes: FAST.writes });
    const forger = await localIssuer();
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++)
      statuses.push(
        (
          await ask(
            'GET',
            '/v1/sources',
            { authorization: await forger.bearer({ sub: `s${i}`, roles: ['admin'] }) },
            'forger',
          )
        ).status,
      );
    expect(statuses).toContain(429);
  });

  it('FIXED: only GET (and HEAD) of /v1/health skip the rate limits, not every method on that path', async () => {
    const { ask } = await securedApi({ requests: { perSecond: 1, burst: 3 }, writes: FAST.writes });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await ask('POST', '/v1/health', { authorization: 'Bearer a.b.c' }, 'flooder')).status);
    expect(statuses).toContain(429);
    for (let i = 0; i < 8; i++) expect((await ask('GET', '/v1/health', {}, 'prober')).status).toBe(200);
  });

  it('Idempotency-Keys do not get past the queued-job cap', async () => {
    const { ask, admin } = await securedApi();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push(
        (
          await ask('POST', '/v1/sources/saves/backups', {
            authorization: admin,
            'idempotency-key': `k-${i}`,
          })
        ).status,
      );
    expect(statuses).toEqual([202, 202, 202, 409, 409, 409]);
  });
});

describe('attack: intrusion detector memory', () => {
  it('many distinct addresses and subjects: state stays within maxTracked', async () => {
    const detector = new IntrusionDetector({
      config: { ...DEFAULT_DETECTION, maxTracked: 100 },
    });
    const t0 = Date.now();
    for (let i = 0; i < 5000; i++)
      await detector.observe({
        time: new Date(t0 + i).toISOString(),
        seq: i + 1,
        prev: '0'.repeat(64),
        principal: { kind: 'token', subject: `s${i}`, roles: [] },
        action: 'step-up',
        target: {},
        outcome: 'denied',
        correlationId: `c${i}`,
        address: `10.${(i >> 8) & 255}.${i & 255}.1`,
        origin: 'serve',
      });
    for (const n of Object.values(detector.metrics().tracked)) expect(n).toBeLessThanOrEqual(100);
  });
});
