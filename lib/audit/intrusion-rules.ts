/**
 * The intrusion rules, each a pure function of the audit stream with bounded state (intrusion-window.ts):
 * what it counts, by which key, and when it finds something. What a finding then does (an alert event, a
 * notification, a lockout): intrusion.ts.
 */
import { addressLockKey, subjectLockKey } from '../security/lockout';
import type { AuditEvent } from './event';
import type { DetectionConfig } from './intrusion-config';
import { RegionMap } from './intrusion-regions';
import { SlidingWindows } from './intrusion-window';

export const RULES = [
  'auth-failures',
  'restore-burst',
  'bulk-deletion',
  'off-hours-keys',
  'token-travel',
] as const;
export type RuleName = (typeof RULES)[number];

export interface Finding {
  rule: RuleName;
  severity: 'warning' | 'critical';
  /** What the rule counted by: `principal:<subject>`, `address:<ip>`, `token:<subject>#<jti>`. */
  key: string;
  /** Whom it is about (absent for an address no principal was proven for). */
  subject?: string;
  address?: string;
  /** Events in the window when it fired (1 for off-hours, 2 for token travel). */
  count: number;
  windowSeconds: number;
  /** Epoch ms of the first event counted. */
  firstAt: number;
  reason: string;
  /** Who to lock out (a token's subject, or an address), and for how long (0: nobody). */
  lockout?: { subject: string; seconds: number };
}

export interface Rule {
  readonly name: RuleName;
  observe(e: AuditEvent, t: number): Finding[];
  /** Keys it holds state for now. */
  tracked(): number;
}

const refused = (e: AuditEvent) => e.outcome === 'denied' || e.outcome === 'failed';
const proven = (e: AuditEvent) => e.principal.kind !== 'anonymous';

/** What a token's events share: its subject and `jti` (the subject alone when it has none). */
export function tokenKeyOf(e: AuditEvent): string | undefined {
  if (e.principal.kind !== 'token') return undefined;
  const jti = e.principal.tokenId ?? e.target.tokenId;
  return typeof jti === 'string' && jti ? `${e.principal.subject}#${jti}` : e.principal.subject;
}

/** The same target in the same request counts once (an `allowed` then `succeeded` pair, a retry). */
const markOf = (e: AuditEvent) =>
  `${e.correlationId}|${e.action}|${Object.entries(e.target)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')}`;

/** N events of a key within a window, for each key an event has; one finding per burst and key. */
function countRule(
  name: RuleName,
  severity: Finding['severity'],
  cfg: { threshold: number; windowSeconds: number; lockoutSeconds: number },
  maxKeys: number,
  keysOf: (e: AuditEvent) => { key: string; subject?: string; address?: string; lock?: string }[],
  describe: (count: number, windowSeconds: number, who: string) => string,
  dedupe: boolean,
): Rule {
  const windows = new SlidingWindows(cfg.windowSeconds * 1000, cfg.threshold, maxKeys);
  return {
    name,
    tracked: () => windows.size,
    observe(e, t) {
      const out: Finding[] = [];
      for (const k of keysOf(e)) {
        const n = windows.add(k.key, t, dedupe ? markOf(e) : undefined);
        if (n < cfg.threshold || !windows.arm(k.key, t)) continue;
        out.push({
          rule: name,
          severity,
          key: k.key,
          ...(k.subject ? { subject: k.subject } : {}),
          ...(k.address ? { address: k.address } : {}),
          count: n,
          windowSeconds: cfg.windowSeconds,
          firstAt: windows.firstTime(k.key) ?? t,
          reason: describe(n, cfg.windowSeconds, k.key.replace(/^[a-z]+:/, '')),
          ...(k.lock && cfg.lockoutSeconds > 0
            ? { lockout: { subject: k.lock, seconds: cfg.lockoutSeconds } }
            : {}),
        });
      }
      return out;
    },
  };
}

const minutes = (s: number) => (s % 60 === 0 ? `${s / 60} min` : `${s} s`);

function authFailures(c: DetectionConfig): Rule {
  return countRule(
    'auth-failures',
    'warning',
    c.authFailures,
    c.maxTracked,
    (e) => {
      if (!((e.action === 'authenticate' || e.action === 'step-up') && refused(e))) return [];
      const keys: { key: string; subject?: string; address?: string; lock?: string }[] = [];
      if (proven(e))
        keys.push({
          key: `principal:${e.principal.subject}`,
          subject: e.principal.subject,
          ...(e.address ? { address: e.address } : {}),
          ...(e.principal.kind === 'token' ? { lock: subjectLockKey(e.principal.subject) } : {}),
        });
      if (e.address)
        keys.push({
          key: `address:${e.address}`,
          address: e.address,
          ...(proven(e) ? { subject: e.principal.subject } : {}),
          lock: addressLockKey(e.address),
        });
      return keys;
    },
    (n, w, who) => `${n} failed authentications of ${who} within ${minutes(w)}`,
    false,
  );
}

/** Rules (b) and (c): actions done (not refused) by one principal. */
function burstOf(
  name: RuleName,
  cfg: DetectionConfig['restoreBurst'],
  maxKeys: number,
  actions: ReadonlySet<string>,
  what: string,
): Rule {
  return countRule(
    name,
    'critical',
    cfg,
    maxKeys,
    (e) =>
      actions.has(e.action) && !refused(e) && proven(e)
        ? [
            {
              key: `principal:${e.principal.subject}`,
              subject: e.principal.subject,
              ...(e.address ? { address: e.address } : {}),
              ...(e.principal.kind === 'token' ? { lock: subjectLockKey(e.principal.subject) } : {}),
            },
          ]
        : [],
    (n, w, who) => `${n} ${what} by ${who} within ${minutes(w)}`,
    true,
  );
}

/** Minutes since local midnight of `t` in `zone`. */
export function minuteOfDay(format: Intl.DateTimeFormat, t: number): number {
  let h = 0;
  let m = 0;
  for (const p of format.formatToParts(t)) {
    if (p.type === 'hour') h = Number(p.value) % 24;
    else if (p.type === 'minute') m = Number(p.value);
  }
  return h * 60 + m;
}

const clockMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether minute-of-day `m` is within working hours [from, to) (a window past midnight wraps). */
export function withinHours(m: number, from: string, to: string): boolean {
  const a = clockMinutes(from);
  const b = clockMinutes(to);
  return a <= b ? m >= a && m < b : m >= a || m < b;
}

function offHoursKeys(c: DetectionConfig): Rule {
  const cfg = c.offHours;
  const format = new Intl.DateTimeFormat('en-GB', {
    timeZone: cfg.timezone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const windows = new SlidingWindows(cfg.windowSeconds * 1000, 1, c.maxTracked);
  return {
    name: 'off-hours-keys',
    tracked: () => windows.size,
    observe(e, t) {
      if (e.action !== 'manage-keys') return [];
      const m = minuteOfDay(format, t);
      if (withinHours(m, cfg.from, cfg.to)) return [];
      const key = `principal:${e.principal.subject}`;
      windows.add(key, t);
      if (!windows.arm(key, t)) return [];
      const local = `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
      return [
        {
          rule: 'off-hours-keys',
          severity: 'warning',
          key,
          subject: e.principal.subject,
          ...(e.address ? { address: e.address } : {}),
          count: 1,
          windowSeconds: cfg.windowSeconds,
          firstAt: t,
          reason: `key operation (${e.outcome}) by ${e.principal.subject} at ${local} ${cfg.timezone}, outside working hours ${cfg.from}–${cfg.to}`,
          ...(cfg.lockoutSeconds > 0 && e.principal.kind === 'token'
            ? { lockout: { subject: subjectLockKey(e.principal.subject), seconds: cfg.lockoutSeconds } }
            : {}),
        },
      ];
    },
  };
}

function tokenTravel(c: DetectionConfig): Rule {
  const cfg = c.tokenTravel;
  const regions = new RegionMap(cfg.regions);
  const windowMs = cfg.windowSeconds * 1000;
  // Per token: where it was last seen. A Map in touch order, capped like the windows.
  const seen = new Map<string, { region: string; address: string; t: number; quietUntil: number }>();
  return {
    name: 'token-travel',
    tracked: () => seen.size,
    observe(e, t) {
      const token = tokenKeyOf(e);
      if (!token || !e.address) return [];
      const region = regions.regionOf(e.address);
      if (!region) return [];
      const before = seen.get(token);
      seen.delete(token);
      if (!before && seen.size >= c.maxTracked) seen.delete(seen.keys().next().value!);
      const quietUntil = before?.quietUntil ?? 0;
      seen.set(token, { region, address: e.address, t, quietUntil });
      if (!before || before.region === region || t - before.t > windowMs || t < quietUntil) return [];
      seen.get(token)!.quietUntil = t + windowMs;
      return [
        {
          rule: 'token-travel',
          severity: 'critical',
          key: `token:${token}`,
          subject: e.principal.subject,
          address: e.address,
          count: 2,
          windowSeconds: cfg.windowSeconds,
          firstAt: before.t,
          reason: `token of ${e.principal.subject} used from ${before.address} (${before.region}) and ${e.address} (${region}) ${Math.round((t - before.t) / 1000)} s apart`,
          ...(cfg.lockoutSeconds > 0
            ? { lockout: { subject: subjectLockKey(e.principal.subject), seconds: cfg.lockoutSeconds } }
            : {}),
        },
      ];
    },
  };
}

export function makeRules(c: DetectionConfig): Rule[] {
  return [
    authFailures(c),
    burstOf('restore-burst', c.restoreBurst, c.maxTracked, new Set(['restore']), 'restores or downloads'),
    burstOf(
      'bulk-deletion',
      c.bulkDeletion,
      c.maxTracked,
      new Set(['delete', 'release-hold']),
      'deletions or released holds',
    ),
    offHoursKeys(c),
    tokenTravel(c),
  ];
}
