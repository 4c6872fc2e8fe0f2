import { Secret, TOTP } from 'otpauth';
import type { AuditEvent } from '../../lib/audit/event';
import { OTP_HEADER } from '../../lib/security/totp';
import { type LocalIssuer, localIssuer } from './local-issuer';
import { BASE, testApi } from './support';

/**
 * Critical operations over the API: a second factor enrolled through the API, a one-time code once, five
 * wrong ones lock the principal out; every refusal and every change is in the audit trail; bad tokens
 * from one address lock that address out; nothing is done that the trail cannot record.
 */
let issuer: LocalIssuer;
beforeAll(async () => {
  issuer = await localIssuer();
});

async function securedApi() {
  const api = await testApi({
    security: true,
    api: { requests: { perSecond: 1000, burst: 0 }, writes: { perSecond: 1000, burst: 0 } },
    extra: { auth: issuer.auth },
  });
  for (const id of ['case-1', 'case-2', 'case-3'])
    await api.catalog.putHold({
      source: 'payments',
      id,
      reason: 'tax audit',
      createdBy: 'dpo',
      createdAt: new Date().toISOString(),
    });
  const admin = await issuer.bearer({ sub: 'root-admin', roles: ['admin'], jti: 'token-1' });
  const auditor = await issuer.bearer({ sub: 'inspector', roles: ['auditor'] });
  const ask = (method: string, path: string, headers: Record<string, string> = {}, client = 'one client') =>
    api.app.request(`${BASE}${path}`, { method, headers: { ...headers, 'x-test-client': client } });
  const trail = async (): Promise<AuditEvent[]> => {
    const res = await ask('GET', '/v1/audit?limit=1000', { authorization: auditor });
    expect(res.status).toBe(200);
    return ((await res.json()) as { events: AuditEvent[] }).events;
  };
  return { ...api, admin, auditor, ask, trail };
}

/** The code of `secret` for a moment `stepsAhead` periods from now. */
const codeOf = (secret: string, stepsAhead = 0) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: Date.now() + stepsAhead * 30_000 });

describe('step-up for critical operations over the API', () => {
  it('enrol, then release a hold with a fresh code; the same code again is refused; all recorded', async () => {
    const { ask, admin, catalog, trail } = await securedApi();
    const enrolled = await ask('POST', '/v1/auth/totp', { authorization: admin });
    expect(enrolled.status).toBe(201);
    expect(enrolled.headers.get('cache-control')).toBe('no-store');
    const { enrolment } = (await enrolled.json()) as { enrolment: { secret: string; uri: string } };
    expect(enrolment.uri).toMatch(/^otpauth:\/\/totp\//);
    // Enrolling again without a code of the first factor is refused: the factor is not replaced.
    expect((await ask('POST', '/v1/auth/totp', { authorization: admin })).status).toBe(409);

    expect((await ask('DELETE', '/v1/sources/payments/holds/case-1', { authorization: admin })).status).toBe(
      403,
    );
    const code = codeOf(enrolment.secret);
    const released = await ask('DELETE', '/v1/sources/payments/holds/case-1', {
      authorization: admin,
      [OTP_HEADER]: code,
    });
    expect(released.status).toBe(204);
    expect((await catalog.listHolds('payments')).map((h) => h.id)).toEqual(['case-2', 'case-3']);
    const replayed = await ask('DELETE', '/v1/sources/payments/holds/case-2', {
      authorization: admin,
      [OTP_HEADER]: code,
    });
    expect(replayed.status).toBe(403);
    expect(await replayed.text()).toMatch(/used already/);
    expect((await catalog.listHolds('payments')).map((h) => h.id)).toEqual(['case-2', 'case-3']);

    const events = await trail();
    const about = events.filter((e) => e.principal.subject === 'root-admin');
    expect(about.map((e) => [e.action, e.outcome])).toEqual([
      ['enrol', 'allowed'],
      ['enrol', 'succeeded'],
      ['enrol', 'allowed'],
      ['enrol', 'failed'],
      ['release-hold', 'denied'],
      ['step-up', 'succeeded'],
      ['release-hold', 'allowed'],
      ['release-hold', 'succeeded'],
      ['step-up', 'denied'],
    ]);
    const release = about.find((e) => e.action === 'release-hold' && e.outcome === 'succeeded')!;
    expect(release.target).toMatchObject({ source: 'payments', hold: 'case-1', dataClass: 'payment' });
    expect(release.principal).toMatchObject({ kind: 'token', roles: ['admin'], tokenId: 'token-1' });
    // Neither the token nor a code nor the secret is in the trail.
    const text = JSON.stringify(events);
    for (const secret of [admin.slice(7), code, enrolment.secret]) expect(text).not.toContain(secret);
    // The auditor's reads of the trail are in it too.
    expect(events.some((e) => e.action === 'read-audit' && e.principal.subject === 'inspector')).toBe(true);
  });

  it('five wrong codes lock the principal out: then even the right code is refused', async () => {
    const { ask, admin } = await securedApi();
    const { enrolment } = (await (await ask('POST', '/v1/auth/totp', { authorization: admin })).json()) as {
      enrolment: { secret: string };
    };
    const wrong = String((Number(codeOf(enrolment.secret)) + 1) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < 5; i++)
      expect(
        (
          await ask('DELETE', '/v1/sources/payments/holds/case-1', {
            authorization: admin,
            [OTP_HEADER]: wrong,
          })
        ).status,
      ).toBe(403);
    const right = await ask('DELETE', '/v1/sources/payments/holds/case-1', {
      authorization: admin,
      [OTP_HEADER]: codeOf(enrolment.secret),
    });
    expect(right.status).toBe(403);
    expect(await right.text()).toMatch(/locked out until \d{4}-\d\d-\d\dT/);
  });

  it('repeated bad tokens from one address lock the address out for bad tokens; valid ones still get in', async () => {
    const { ask, admin, trail } = await securedApi();
    for (let i = 0; i < 5; i++)
      expect(
        (await ask('GET', '/v1/sources', { authorization: 'Bearer not.a.token' }, '198.51.100.9')).status,
      ).toBe(401);
    const locked = await ask('GET', '/v1/sources', { authorization: 'Bearer not.a.token' }, '198.51.100.9');
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await locked.text()).toMatch(/too many failed authentications from this address/);
    // A valid token from behind the same address (a NAT, a proxy) is not refused for its neighbours.
    expect((await ask('GET', '/v1/sources', { authorization: admin }, '198.51.100.9')).status).toBe(200);
    const events = await trail();
    expect(events.filter((e) => e.action === 'authenticate' && e.address === '198.51.100.9')).toHaveLength(5);
    expect(events.filter((e) => e.action === 'alert')).toHaveLength(1);
  });

  it('an action the trail cannot record is not done: 503, nothing changed', async () => {
    const { app, admin, catalog, securityRepo } = await securedApi();
    // The trail's storage refuses writes from now on.
    securityRepo!.storage.put = async () => {
      throw new Error('storage unavailable');
    };
    const placed = await app.request(`${BASE}/v1/sources/saves/holds`, {
      method: 'POST',
      headers: { authorization: admin },
      body: JSON.stringify({ id: 'case-9', reason: 'court order' }),
    });
    expect(placed.status).toBe(503);
    expect(await placed.text()).toMatch(/refused while the audit trail cannot be written/);
    expect(await catalog.listHolds('saves')).toEqual([]);
    // A backup asked for is still taken: it is recorded afterwards, as far as the trail lets it.
    const backup = await app.request(`${BASE}/v1/sources/saves/backups`, {
      method: 'POST',
      headers: { authorization: admin },
    });
    expect(backup.status).toBe(202);
  });
  it('requests that forget the code count nothing: five of them, then the right code still gets through', async () => {
    const { ask, admin, catalog } = await securedApi();
    const { enrolment } = (await (await ask('POST', '/v1/auth/totp', { authorization: admin })).json()) as {
      enrolment: { secret: string };
    };
    for (let i = 0; i < 6; i++)
      expect(
        (await ask('DELETE', '/v1/sources/payments/holds/case-1', { authorization: admin })).status,
      ).toBe(403);
    const right = await ask('DELETE', '/v1/sources/payments/holds/case-1', {
      authorization: admin,
      [OTP_HEADER]: codeOf(enrolment.secret),
    });
    expect(await right.text()).toBe('');
    expect(right.status).toBe(204);
    expect((await catalog.listHolds('payments')).map((h) => h.id)).toEqual(['case-2', 'case-3']);
  });

  it('second factors that cannot be checked (the key repository cannot be opened): 503, the hold kept', async () => {
    const { ask, admin, catalog, security } = await securedApi();
    security!.stepUp = () => Promise.reject(new Error('storage of repository "main" unavailable'));
    const res = await ask('DELETE', '/v1/sources/payments/holds/case-1', {
      authorization: admin,
      [OTP_HEADER]: '123456',
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(await res.text()).not.toContain('storage of repository');
    expect((await catalog.listHolds('payments')).map((h) => h.id)).toContain('case-1');
  });
});
