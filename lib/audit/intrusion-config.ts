/**
 * The `detection:` section of the configuration: thresholds and windows of the intrusion rules
 * (intrusion.ts), each with a default, so that an absent section means "on, with the defaults" —
 * docs/security.md lists them. Windows and lockouts are in seconds (the rules work in minutes, which the
 * configuration's calendar durations cannot say).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

const seconds = (max: number) => z.int().min(1).max(max);
/** 0: the rule alerts, but locks nobody out. */
const lockoutSeconds = z
  .int()
  .min(0)
  .max(30 * 86_400);
const DAY = 86_400;

/** N events of one key within a window. */
const countRule = (threshold: number, windowSeconds: number, lockout: number) =>
  z
    .object({
      threshold: z.int().min(1).max(10_000).default(threshold),
      windowSeconds: seconds(DAY).default(windowSeconds),
      lockoutSeconds: lockoutSeconds.default(lockout),
    })
    .strict()
    .prefault({});

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day, HH:MM (00:00–23:59)');

const zone = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'an IANA time zone such as Europe/Moscow');

/** `a.b.c.d/n` or an IPv6 prefix. */
const cidr = z.string().refine((text) => {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m) return false;
  const bits = Number(m[2]);
  return (isIPv4(m[1]!) && bits <= 32) || (isIPv6(m[1]!) && bits <= 128);
}, 'a network in CIDR form, e.g. 10.20.0.0/16');

export const detectionSchema = z
  .object({
    /** false: no rule runs. */
    enabled: z.boolean().default(true),
    /** Subjects no rule looks at (e.g. the purge's service account). */
    exempt: z.array(z.string().min(1)).max(1000).default([]),
    /** How many principals, addresses or tokens each rule tracks at most (the least recent are let go). */
    maxTracked: z.int().min(10).max(1_000_000).default(10_000),
    /** (a) Failed authentications (and one-time codes) of one principal, or from one address. */
    authFailures: countRule(5, 300, 900),
    /** (b) Restores or downloads by one principal. */
    restoreBurst: countRule(20, 600, 3600),
    /** (c) Deletions and legal holds released by one principal. */
    bulkDeletion: countRule(10, 600, 3600),
    /** (d) Key operations (`manage-keys`) outside working hours, read in `timezone`. */
    offHours: z
      .object({
        from: clock.default('08:00'),
        to: clock.default('20:00'),
        timezone: zone.default('Europe/Moscow'),
        /** One alert per principal per this long. */
        windowSeconds: seconds(DAY).default(3600),
        lockoutSeconds: lockoutSeconds.default(0),
      })
      .strict()
      .prefault({}),
    /** (e) One token used from two regions (or two /16 networks) within the window. */
    tokenTravel: z
      .object({
        windowSeconds: seconds(DAY).default(900),
        lockoutSeconds: lockoutSeconds.default(3600),
        /** Network → region name; without it, each IPv4 /16 (IPv6 /48) is a region of its own. */
        regions: z.record(cidr, z.string().min(1).max(64)).default({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type DetectionConfig = z.output<typeof detectionSchema>;
export type DetectionConfigInput = z.input<typeof detectionSchema>;

/** Every default, as an absent `detection:` section means. */
export const DEFAULT_DETECTION: DetectionConfig = detectionSchema.parse({});
