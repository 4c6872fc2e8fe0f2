import type { AuditEntry, AuditEvent } from '../../lib/audit/event';
import {
  type AlertMessage,
  DEFAULT_DETECTION,
  type DetectionConfig,
  detectionSchema,
  IntrusionDetector,
} from '../../lib/audit/intrusion';
import { LocalQueue } from '../../lib/pipeline/queues/local-queue';

const T0 = Date.parse('2026-03-02T09:00:00Z'); // 12:00 in Moscow

let seq = 0;
function ev(
  p: Partial<AuditEvent> & { at: number; subject?: string; kind?: 'token' | 'local' | 'anonymous' },
): AuditEvent {
  const { at, subject = 'alice', kind = 'token', ...rest } = p;
  seq++;
  return {
    time: new Date(at).toISOString(),
    seq,
    prev: '0'.repeat(64),
    principal: { kind, subject, roles: ['operator'] },
    action: 'read',
    target: {},
    outcome: 'allowed',
    correlationId: `c-${seq}`,
    origin: 'serve',
    ...rest,
  };
}

const config = (c: object = {}): DetectionConfig => detectionSchema.parse(c);

function harness(c: object = {}) {
  const appended: AuditEntry[] = [];
  const locks: { subject: string; until: number; reason: string }[] = [];
  const queue = new LocalQueue('notifications');
  const detector = new IntrusionDetector({
    config: config(c),
    origin: 'test',
    audit: {
      append: async (e) => {
        appended.push(e);
        return { ...e, time: e.time ?? '', seq: 0, prev: '' };
      },
    },
    lockouts: { lock: async (subject, until, reason) => void locks.push({ subject, until, reason }) },
    notify: queue,
  });
  return { detector, appended, locks, queue };
}

async function feed(d: IntrusionDetector, events: AuditEvent[]) {
  const out = [];
  for (const e of events) out.push(...(await d.observe(e)));
  return out;
}

const authFail = (
  at: number,
  extra: Partial<AuditEvent> & { subject?: string; kind?: 'token' | 'local' | 'anonymous' } = {},
) => ev({ at, action: 'authenticate', outcome: 'denied', ...extra });

describe('the detection: section', () => {
  it('defaults for every rule; strict; hostile values refused', () => {
    expect(DEFAULT_DETECTION).toMatchObject({
      enabled: true,
      authFailures: { threshold: 5, windowSeconds: 300, lockoutSeconds: 900 },
      restoreBurst: { threshold: 20, windowSeconds: 600, lockoutSeconds: 3600 },
      bulkDeletion: { threshold: 10, windowSeconds: 600, lockoutSeconds: 3600 },
      offHours: { from: '08:00', to: '20:00', timezone: 'Europe/Moscow', lockoutSeconds: 0 },
      tokenTravel: { windowSeconds: 900, lockoutSeconds: 3600, regions: {} },
    });
    expect(config({ authFailures: { threshold: 3 } }).authFailures).toEqual({
      threshold: 3,
      windowSeconds: 300,
      lockoutSeconds: 900,
    });
    for (const bad of [
      { authFailures: { threshold: 0 } },
      { authFailures: { treshold: 3 } },
      { offHours: { from: '25:00' } },
      { offHours: { timezone: 'Mars/Olympus' } },
      { tokenTravel: { regions: { '10.0.0.0/33': 'x' } } },
      { tokenTravel: { regions: { 'not-a-net': 'x' } } },
      { unknown: true },
    ])
      expect(detectionSchema.safeParse(bad).success).toBe(false);
  });
});

describe('(a) repeated authentication failures', () => {
  it('fires at the threshold, not below; once per burst; locks the principal out until the right time', async () => {
    const { detector, appended, locks, queue } = harness({
      authFailures: { threshold: 5, windowSeconds: 60 },
    });
    const four = Array.from({ length: 4 }, (_, i) => authFail(T0 + i * 1000));
    expect(await feed(detector, four)).toEqual([]);
    const fifth = authFail(T0 + 4000);
    const [alert, ...more] = await detector.observe(fifth);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      rule: 'auth-failures',
      key: 'principal:alice',
      subject: 'alice',
      count: 5,
      windowSeconds: 60,
      firstAt: new Date(T0).toISOString(),
      time: new Date(T0 + 4000).toISOString(),
      correlationId: fifth.correlationId,
      lockedSubject: 'subject:alice',
      lockedUntil: new Date(T0 + 4000 + 900_000).toISOString(),
    });
    expect(locks).toEqual([
      {
        subject: 'subject:alice',
        until: T0 + 4000 + 900_000,
        reason: expect.stringMatching(/^auth-failures: 5 failed/),
      },
    ]);
    // The rest of the burst: counted, no new alert.
    const burst = Array.from({ length: 50 }, (_, i) => authFail(T0 + 5000 + i * 100));
    expect(await feed(detector, burst)).toEqual([]);
    expect(appended).toHaveLength(1);
    expect(appended[0]).toMatchObject({
      action: 'alert',
      outcome: 'succeeded',
      principal: { kind: 'token', subject: 'alice' },
      target: { rule: 'auth-failures', key: 'principal:alice', count: '5', lockedUntil: alert!.lockedUntil },
      correlationId: fifth.correlationId,
      origin: 'test',
    });
    expect(await queue.receive({ max: 10 })).toHaveLength(1);
    expect(detector.metrics()).toMatchObject({
      alerts: { 'auth-failures': 1 },
      lockouts: 1,
      effectFailures: 0,
    });
  });

  it('failures spread wider than the window never fire; a new burst after the quiet time fires again', async () => {
    const { detector } = harness({ authFailures: { threshold: 3, windowSeconds: 60 } });
    const slow = Array.from({ length: 20 }, (_, i) => authFail(T0 + i * 31_000));
    expect(await feed(detector, slow)).toEqual([]);
    const later = T0 + 3_600_000;
    const first = await feed(
      detector,
      [0, 1, 2].map((i) => authFail(later + i * 1000)),
    );
    expect(first).toHaveLength(1);
    const again = await feed(
      detector,
      [0, 1, 2].map((i) => authFail(later + 120_000 + i * 1000)),
    );
    expect(again).toHaveLength(1);
  });

  it('from one address, whoever (or no one) the token claims to be: the address is locked', async () => {
    const { detector, locks } = harness({ authFailures: { threshold: 4, windowSeconds: 60 } });
    const events = ['u1', 'u2', 'u3', 'u4'].map((s, i) =>
      authFail(T0 + i, { subject: s, kind: i % 2 ? 'anonymous' : 'token', address: '203.0.113.9' }),
    );
    const alerts = await feed(detector, events);
    expect(alerts.map((a) => [a.key, a.lockedSubject])).toEqual([
      ['address:203.0.113.9', 'address:203.0.113.9'],
    ]);
    expect(locks.map((l) => l.subject)).toEqual(['address:203.0.113.9']);
  });

  it('wrong one-time codes count; successes and other actions do not', async () => {
    const { detector } = harness({ authFailures: { threshold: 2, windowSeconds: 60 } });
    const noise = [
      ev({ at: T0, action: 'authenticate', outcome: 'succeeded' }),
      ev({ at: T0 + 1, action: 'restore', outcome: 'denied' }),
      ev({ at: T0 + 2, action: 'step-up', outcome: 'failed' }),
    ];
    expect(await feed(detector, noise)).toEqual([]);
    expect(await feed(detector, [ev({ at: T0 + 3, action: 'step-up', outcome: 'denied' })])).toHaveLength(1);
  });
});

describe('(b) restores and (c) deletions in bulk', () => {
  it('a burst of restores by one principal: at the threshold, not below; a request counted once', async () => {
    const { detector, locks } = harness({
      restoreBurst: { threshold: 3, windowSeconds: 600, lockoutSeconds: 60 },
    });
    const r = (i: number, cid = `r-${i}`) =>
      ev({ at: T0 + i * 1000, action: 'restore', target: { snapshot: `s${i}` }, correlationId: cid });
    // allowed then succeeded of the same restore: one.
    const pair = [r(0), { ...r(0), outcome: 'succeeded' as const, seq: 999 }];
    expect(await feed(detector, [...pair, r(1)])).toEqual([]);
    const [alert] = await feed(detector, [r(2)]);
    expect(alert).toMatchObject({ rule: 'restore-burst', severity: 'critical', count: 3, subject: 'alice' });
    expect(locks).toEqual([
      { subject: 'subject:alice', until: T0 + 2000 + 60_000, reason: expect.any(String) },
    ]);
    // Another principal's restores are its own count; refused ones do not count.
    expect(
      await feed(
        detector,
        [0, 1].map((i) =>
          ev({ at: T0 + 5000 + i, subject: 'bob', action: 'restore', target: { s: `${i}` } }),
        ),
      ),
    ).toEqual([]);
    expect(
      await feed(detector, [ev({ at: T0 + 6000, subject: 'bob', action: 'restore', outcome: 'denied' })]),
    ).toEqual([]);
  });

  it('deletions and released holds together; the CLI user is alerted on but not locked out', async () => {
    const { detector, locks } = harness({ bulkDeletion: { threshold: 4, windowSeconds: 600 } });
    const events = [
      ...[0, 1].map((i) =>
        ev({ at: T0 + i, kind: 'local', subject: 'root', action: 'delete', target: { snapshot: `s${i}` } }),
      ),
      ev({ at: T0 + 2, kind: 'local', subject: 'root', action: 'release-hold', target: { hold: 'h1' } }),
    ];
    expect(await feed(detector, events)).toEqual([]);
    const [alert] = await feed(detector, [
      ev({ at: T0 + 3, kind: 'local', subject: 'root', action: 'delete', target: { snapshot: 's9' } }),
    ]);
    expect(alert).toMatchObject({ rule: 'bulk-deletion', subject: 'root', count: 4 });
    expect(alert!.lockedUntil).toBeUndefined();
    expect(locks).toEqual([]);
  });
});

describe('(d) key operations outside working hours', () => {
  // 2026-03-02 is a Monday; Moscow is UTC+3 all year (no DST), Tokyo UTC+9.
  const at = (utc: string) => Date.parse(`2026-03-02T${utc}Z`);
  const keys = (t: number, subject = 'alice') =>
    ev({ at: t, subject, action: 'manage-keys', target: { slot: 'k1' } });

  it('in the configured zone: 07:59 and 20:00 Moscow alert, 08:00 and 19:59 do not', async () => {
    const { detector } = harness();
    expect(await detector.observe(keys(at('05:00:00')))).toEqual([]); // 08:00 MSK
    expect(await detector.observe(keys(at('16:59:00')))).toEqual([]); // 19:59 MSK
    const [late] = await detector.observe(keys(at('17:00:00'))); // 20:00 MSK
    expect(late).toMatchObject({
      rule: 'off-hours-keys',
      reason: expect.stringContaining('20:00 Europe/Moscow'),
    });
    const { detector: d2 } = harness();
    expect(await d2.observe(keys(at('04:59:00')))).toHaveLength(1); // 07:59 MSK
  });

  it('another zone and hours; one alert per principal per window; the locked-out time when configured', async () => {
    const { detector, locks } = harness({
      offHours: {
        from: '09:00',
        to: '18:00',
        timezone: 'Asia/Tokyo',
        windowSeconds: 3600,
        lockoutSeconds: 600,
      },
    });
    expect(await detector.observe(keys(at('00:00:00')))).toEqual([]); // 09:00 JST
    const t = at('09:30:00'); // 18:30 JST
    const first = await feed(detector, [keys(t), keys(t + 60_000), keys(t + 120_000)]);
    expect(first).toHaveLength(1);
    expect(locks).toEqual([{ subject: 'subject:alice', until: t + 600_000, reason: expect.any(String) }]);
    expect(await feed(detector, [keys(t + 3_700_000)])).toHaveLength(1);
  });

  it('working hours across midnight (a night shift)', async () => {
    const { detector } = harness({ offHours: { from: '22:00', to: '06:00', timezone: 'UTC' } });
    expect(await detector.observe(keys(at('23:00:00')))).toEqual([]);
    expect(await detector.observe(keys(at('05:59:00'), 'bob'))).toEqual([]);
    expect(await detector.observe(keys(at('12:00:00')))).toHaveLength(1);
  });
});

describe('(e) one token from far apart', () => {
  const use = (at: number, address: string, extra: Partial<AuditEvent> = {}) =>
    ev({
      at,
      address,
      principal: {
        kind: 'token',
        subject: 'svc',
        roles: ['service'],
        tokenId: 'jti-1',
      } as AuditEvent['principal'],
      ...extra,
    });

  it('with a region map: two regions within the window alert (once), the same region never', async () => {
    const { detector, locks } = harness({
      tokenTravel: {
        windowSeconds: 600,
        regions: { '10.1.0.0/16': 'moscow', '10.2.0.0/16': 'novosibirsk', '2001:db8::/32': 'moscow' },
      },
    });
    expect(
      await feed(detector, [
        use(T0, '10.1.0.5'),
        use(T0 + 1000, '10.1.200.7'),
        use(T0 + 2000, '2001:db8::1'),
      ]),
    ).toEqual([]);
    const [alert] = await feed(detector, [use(T0 + 60_000, '10.2.3.4')]);
    expect(alert).toMatchObject({
      rule: 'token-travel',
      key: 'token:svc#jti-1',
      address: '10.2.3.4',
      reason: expect.stringMatching(/2001:db8::1 \(moscow\) and 10\.2\.3\.4 \(novosibirsk\) 58 s apart/),
      lockedUntil: new Date(T0 + 60_000 + 3_600_000).toISOString(),
    });
    expect(locks.map((l) => l.subject)).toEqual(['subject:svc']);
    expect(await feed(detector, [use(T0 + 61_000, '10.1.0.5'), use(T0 + 62_000, '10.2.0.1')])).toEqual([]);
  });

  it('without a map: two /16 networks within minutes; farther apart in time, or another token, no alert', async () => {
    const { detector } = harness({ tokenTravel: { windowSeconds: 300 } });
    expect(await feed(detector, [use(T0, '198.51.100.1'), use(T0 + 400_000, '203.0.113.1')])).toEqual([]);
    // Another jti of the same subject is another token.
    expect(
      await feed(detector, [
        use(T0 + 401_000, '198.51.100.1', {
          principal: {
            kind: 'token',
            subject: 'svc',
            roles: [],
            tokenId: 'jti-2',
          } as AuditEvent['principal'],
        }),
      ]),
    ).toEqual([]);
    expect(
      await feed(detector, [use(T0 + 402_000, '203.0.7.7'), use(T0 + 403_000, '::ffff:203.0.9.9')]),
    ).toEqual([]);
    expect(await feed(detector, [use(T0 + 404_000, '192.0.2.1')])).toHaveLength(1);
    // A token without a jti: its subject.
    const { detector: d2 } = harness();
    const bare = (at: number, address: string) => ev({ at, address, subject: 'p1', kind: 'token' });
    expect(await feed(d2, [bare(T0, '10.0.0.1'), bare(T0 + 1000, '10.9.0.1')])).toMatchObject([
      { key: 'token:p1' },
    ]);
  });
});

describe('the alert', () => {
  it('the queue message for the Notification Service', async () => {
    const { detector, queue } = harness({ authFailures: { threshold: 1 } });
    const e = authFail(T0, { address: '203.0.113.5', correlationId: 'req-1' });
    await detector.observe(e);
    const got = await queue.receive({ max: 10 });
    expect(got).toHaveLength(2); // the principal and the address
    const body = JSON.parse(got[0]!.body) as AlertMessage;
    expect(body).toEqual({
      type: 'security-alert',
      version: 1,
      service: 'zapas',
      id: expect.stringMatching(/^al-[0-9a-f]{24}$/),
      rule: 'auth-failures',
      severity: 'warning',
      time: e.time,
      firstAt: e.time,
      key: 'principal:alice',
      subject: 'alice',
      address: '203.0.113.5',
      count: 1,
      windowSeconds: 300,
      reason: '1 failed authentications of alice within 5 min',
      correlationId: 'req-1',
      auditSeq: e.seq,
      lockedSubject: 'subject:alice',
      lockedUntil: new Date(T0 + 900_000).toISOString(),
    });
    expect(got[0]!.attributes).toEqual({
      'zapas-alert-rule': 'auth-failures',
      'zapas-alert-severity': 'warning',
    });
  });

  it('its own alert and lockout events, and exempt subjects, are not fed back; disabled: nothing', async () => {
    const { detector } = harness({ authFailures: { threshold: 1 }, exempt: ['purger'] });
    expect(await detector.observe(ev({ at: T0, action: 'alert', outcome: 'denied' }))).toEqual([]);
    expect(await detector.observe(ev({ at: T0, action: 'lockout', outcome: 'denied' }))).toEqual([]);
    expect(await detector.observe(authFail(T0, { subject: 'purger' }))).toEqual([]);
    const { detector: off } = harness({ enabled: false, authFailures: { threshold: 1 } });
    expect(await off.observe(authFail(T0))).toEqual([]);
  });

  it('a failed side effect: the others still happen, counted; observe rejects without onError', async () => {
    const errors: string[] = [];
    const appended: AuditEntry[] = [];
    const mk = (onError?: boolean) =>
      new IntrusionDetector({
        config: config({ authFailures: { threshold: 1 } }),
        audit: {
          append: async (e) => {
            appended.push(e);
            return { ...e, time: '', seq: 0, prev: '' };
          },
        },
        notify: { send: async () => Promise.reject(new Error('queue down')) },
        lockouts: { lock: async () => Promise.reject(new Error('catalog down')) },
        ...(onError ? { onError: (err, _a, effect) => void errors.push(`${effect}: ${err.message}`) } : {}),
      });
    const d = mk(true);
    const [alert] = await d.observe(authFail(T0));
    expect(errors).toEqual(['lockout: catalog down', 'notify: queue down']);
    expect(alert!.lockedUntil).toBeUndefined();
    expect(appended[0]!.target.lockedUntil).toBeUndefined();
    expect(d.metrics()).toMatchObject({ effectFailures: 2, lockouts: 0, alerts: { 'auth-failures': 1 } });
    await expect(mk(false).observe(authFail(T0))).rejects.toThrow('catalog down');
  });
});

describe('bounded state', () => {
  it('100,000 events from 100,000 principals and addresses: tracked keys stay at the cap', () => {
    const detector = new IntrusionDetector({ config: config({ maxTracked: 1000 }) });
    for (let i = 0; i < 100_000; i++) {
      const at = T0 + i * 10;
      const address = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const subject = `user-${i}`;
      detector.check(ev({ at, subject, address, action: 'authenticate', outcome: 'denied' }));
      detector.check(ev({ at, subject, address, action: 'restore', target: { s: `${i}` } }));
      detector.check(ev({ at, subject, address, action: 'delete', target: { s: `${i}` } }));
      detector.check(ev({ at, subject, address, action: 'manage-keys' }));
    }
    const m = detector.metrics();
    expect(m.events).toBe(400_000);
    for (const n of Object.values(m.tracked)) expect(n).toBeLessThanOrEqual(1000);
    expect(m.tracked['auth-failures']).toBe(1000);
  });

  it('one principal hammering for 100,000 events: its window holds at most the threshold', () => {
    const detector = new IntrusionDetector({
      config: config({ authFailures: { threshold: 5, windowSeconds: 300 } }),
    });
    let alerts = 0;
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++)
      alerts += detector.check(authFail(T0 + i * 100, { address: '198.51.100.1' })).length;
    // Once per window (300 s) per key, over 10,000 s: 34 per key, two keys.
    expect(alerts).toBe(2 * Math.ceil(10_000 / 300));
    expect(detector.metrics().tracked['auth-failures']).toBe(2);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
  });
});
