/**
 * Intrusion detection over the audit stream: `observe(event)` for each event as it is appended (in time
 * order), which runs the rules (intrusion-rules.ts) and, for each finding, raises an alert:
 * - an audit entry with action `alert` (through the AuditSink given),
 * - a message for the platform's Notification Service (any queue with the Queue port's `send`),
 * - a count in `metrics()`,
 * - and, when the rule says so, a lockout of the principal (or address) until a configured time.
 * State is bounded (sliding windows with caps, a limit on tracked keys): memory does not grow with the
 * number of events. Rules, defaults and what an alert carries: docs/security.md, "Intrusion detection".
 */
import { createHash } from 'node:crypto';
import type { AuditEntry, AuditEvent, AuditSink } from './event';
import { DEFAULT_DETECTION, type DetectionConfig } from './intrusion-config';
import { type Finding, makeRules, RULES, type Rule, type RuleName } from './intrusion-rules';

export type { DetectionConfig } from './intrusion-config';
export { DEFAULT_DETECTION, detectionSchema } from './intrusion-config';
export type { RuleName } from './intrusion-rules';
export { RULES } from './intrusion-rules';

/** What the rules need of a queue (lib/pipeline/queues' Queue port has it). */
export interface AlertQueue {
  send(body: string, opts?: { attributes?: Record<string, string> }): Promise<string>;
}

/** What the detector needs of the lockout store (lib/security/lockout.ts). */
export interface AlertLockouts {
  lock(subject: string, untilMs: number, reason: string): Promise<void>;
}

export interface IntrusionAlert {
  /** Stable for one alert (a retried notification has the same id). */
  id: string;
  rule: RuleName;
  severity: 'warning' | 'critical';
  /** When it fired: the time of the event that crossed the threshold (ISO). */
  time: string;
  /** The first event counted (ISO). */
  firstAt: string;
  key: string;
  subject?: string;
  address?: string;
  count: number;
  windowSeconds: number;
  reason: string;
  /** The event that crossed the threshold: its request or job, and its place in the trail. */
  correlationId: string;
  seq: number;
  /** Until when the principal (or address) `lockedSubject` is locked out, when the rule locks (ISO). */
  lockedUntil?: string;
  lockedSubject?: string;
}

/** The body sent to the Notification Service's queue. */
export interface AlertMessage extends Omit<IntrusionAlert, 'seq'> {
  type: 'security-alert';
  version: 1;
  service: 'zapas';
  /** The audit event it was raised on (its sequence number in the trail). */
  auditSeq: number;
}

export interface DetectorOptions {
  config?: DetectionConfig;
  /** Where alert entries are appended. */
  audit?: AuditSink;
  /** The Notification Service's queue. */
  notify?: AlertQueue;
  lockouts?: AlertLockouts;
  /** `origin` of the alert entries: `serve`, a stage function's name… */
  origin?: string;
  /** A failed side effect (the alert is still returned and counted); without it, observe rejects. */
  onError?: (err: Error, alert: IntrusionAlert, effect: 'audit' | 'notify' | 'lockout') => void;
}

export interface DetectorMetrics {
  /** zapas_intrusion_alerts_total, by rule. */
  alerts: Record<RuleName, number>;
  /** zapas_intrusion_lockouts_total. */
  lockouts: number;
  /** zapas_intrusion_effect_failures_total: audit appends, notifications or lockouts that failed. */
  effectFailures: number;
  /** zapas_intrusion_events_total: events observed. */
  events: number;
  /** Keys held now, by rule (bounded by maxTracked). */
  tracked: Record<RuleName, number>;
}

/** Actions the detector itself causes: never fed back into the rules. */
const OWN_ACTIONS: ReadonlySet<string> = new Set(['alert', 'lockout']);

export class IntrusionDetector {
  private readonly config: DetectionConfig;
  private readonly rules: Rule[];
  private readonly exempt: ReadonlySet<string>;
  private readonly counts = { alerts: zeroByRule(), lockouts: 0, effectFailures: 0, events: 0 };

  constructor(private readonly opts: DetectorOptions = {}) {
    this.config = opts.config ?? DEFAULT_DETECTION;
    this.rules = this.config.enabled ? makeRules(this.config) : [];
    this.exempt = new Set(this.config.exempt);
  }

  /** Runs the rules on one event; raises (and returns) the alerts it causes. */
  async observe(event: AuditEvent): Promise<IntrusionAlert[]> {
    const alerts = this.check(event);
    const errors: Error[] = [];
    for (const alert of alerts) await this.raise(alert, event, errors);
    if (errors.length > 0 && !this.opts.onError) throw errors[0];
    return alerts;
  }

  /** The rules alone: the alerts an event causes, with no side effect (what `observe` then raises). */
  check(event: AuditEvent): IntrusionAlert[] {
    if (OWN_ACTIONS.has(event.action) || this.exempt.has(event.principal.subject)) return [];
    const t = Date.parse(event.time);
    if (!Number.isFinite(t)) return [];
    this.counts.events++;
    const alerts: IntrusionAlert[] = [];
    for (const rule of this.rules) for (const f of rule.observe(event, t)) alerts.push(alertOf(f, event, t));
    for (const a of alerts) this.counts.alerts[a.rule]++;
    return alerts;
  }

  metrics(): DetectorMetrics {
    const tracked = zeroByRule();
    for (const r of this.rules) tracked[r.name] = r.tracked();
    return { ...this.counts, alerts: { ...this.counts.alerts }, tracked };
  }

  private async raise(alert: IntrusionAlert, event: AuditEvent, errors: Error[]): Promise<void> {
    const attempt = async (effect: 'audit' | 'notify' | 'lockout', fn: () => Promise<unknown>) => {
      try {
        await fn();
        return true;
      } catch (err) {
        this.counts.effectFailures++;
        errors.push(err as Error);
        this.opts.onError?.(err as Error, alert, effect);
        return false;
      }
    };
    const { lockouts, audit, notify } = this.opts;
    if (lockouts && alert.lockedSubject && alert.lockedUntil) {
      const until = Date.parse(alert.lockedUntil);
      if (
        await attempt('lockout', () =>
          lockouts.lock(alert.lockedSubject!, until, `${alert.rule}: ${alert.reason}`),
        )
      )
        this.counts.lockouts++;
      else {
        delete alert.lockedUntil;
        delete alert.lockedSubject;
      }
    } else {
      delete alert.lockedUntil;
      delete alert.lockedSubject;
    }
    if (audit)
      await attempt('audit', () => audit.append(alertEntry(alert, event, this.opts.origin ?? 'zapas')));
    if (notify)
      await attempt('notify', () =>
        notify.send(JSON.stringify(alertMessage(alert)), {
          attributes: { 'zapas-alert-rule': alert.rule, 'zapas-alert-severity': alert.severity },
        }),
      );
  }
}

function zeroByRule(): Record<RuleName, number> {
  return Object.fromEntries(RULES.map((r) => [r, 0])) as Record<RuleName, number>;
}

function alertOf(f: Finding, e: AuditEvent, t: number): IntrusionAlert {
  const time = new Date(t).toISOString();
  const id = `al-${createHash('sha256').update(`${f.rule}\n${f.key}\n${time}\n${e.seq}`).digest('hex').slice(0, 24)}`;
  return {
    id,
    rule: f.rule,
    severity: f.severity,
    time,
    firstAt: new Date(f.firstAt).toISOString(),
    key: f.key,
    ...(f.subject ? { subject: f.subject } : {}),
    ...(f.address ? { address: f.address } : {}),
    count: f.count,
    windowSeconds: f.windowSeconds,
    reason: f.reason,
    correlationId: e.correlationId,
    seq: e.seq,
    ...(f.lockout
      ? {
          lockedSubject: f.lockout.subject,
          lockedUntil: new Date(t + f.lockout.seconds * 1000).toISOString(),
        }
      : {}),
  };
}

/** The audit entry of an alert: about the principal whose events fired it. */
export function alertEntry(a: IntrusionAlert, e: AuditEvent, origin: string): AuditEntry {
  return {
    time: a.time,
    principal: { kind: e.principal.kind, subject: e.principal.subject, roles: e.principal.roles },
    action: 'alert',
    target: {
      rule: a.rule,
      alert: a.id,
      key: a.key,
      severity: a.severity,
      count: String(a.count),
      since: a.firstAt,
      event: String(a.seq),
      ...(a.lockedUntil ? { lockedUntil: a.lockedUntil, locked: a.lockedSubject! } : {}),
    },
    outcome: 'succeeded',
    reason: a.reason,
    correlationId: a.correlationId,
    ...(a.address ? { address: a.address } : {}),
    origin,
  };
}

export function alertMessage(a: IntrusionAlert): AlertMessage {
  const { seq, ...rest } = a;
  return { type: 'security-alert', version: 1, service: 'zapas', ...rest, auditSeq: seq };
}
