/**
 * The service's configuration (zapas.yaml or JSON): repositories, and sources with their schedules,
 * events, priority, data class, retention and verification. Shapes only; what needs more than one field
 * (references, cycles, the law's minimums) is checked in load.ts.
 */
import { z } from 'zod';
import { detectionSchema } from '../../audit/intrusion-config';
import { DEFAULT_KEEP_FINISHED_JOBS, jobRetentionProblem } from '../../catalog/retention';
import { NAME_PATTERN, PROTOTYPE_NAMES } from '../../security/names';
import { accessRulesSchema, authSettingsSchema } from '../../security/settings';

export { PROTOTYPE_NAMES };

const name = (what: string) =>
  z.string().superRefine((text, ctx) => {
    if (PROTOTYPE_NAMES.has(text))
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" cannot be a ${what} name: every JavaScript object has a property of that name`,
      });
    else if (!NAME_PATTERN.test(text))
      ctx.addIssue({
        code: 'custom',
        message: `a ${what} name is 1–63 lowercase letters, digits, ".", "-" or "_", starting with a letter or digit`,
      });
  });

/**
 * A map from names: its output has no prototype, so a lookup by a name from outside (a queue message,
 * a URL) finds only what the file defines.
 */
const byName = <T extends z.ZodType>(what: string, value: T) =>
  z
    .record(name(what), value)
    .transform((r) => Object.assign(Object.create(null) as Record<string, z.output<T>>, r));

/** The classes data is kept apart by (pack streams, retention, residency, storage tier). */
export const DATA_CLASSES = ['personal', 'payment', 'game-content', 'telemetry', 'default'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

/** Durations as the CLI takes them (`5y`, `30d`, `2y6m`): checked by the policy layer's parser. */
const duration = z.string().min(1, 'a duration such as 30d, 6m or 5y');

const schedule = z
  .object({
    cron: z.string().min(1),
    /** IANA zone the cron is read in; default: the file's `timezone`, else UTC. */
    timezone: z.string().optional(),
    /** Postgres: full or incr base backup; auto lets the orchestrator decide (full when none is recent). */
    type: z.enum(['full', 'incr', 'auto']).default('auto'),
  })
  .strict();

const retention = z
  .object({
    keepLast: z.int().min(1).optional(),
    keepHourly: z.int().min(1).optional(),
    keepDaily: z.int().min(1).optional(),
    keepWeekly: z.int().min(1).optional(),
    keepMonthly: z.int().min(1).optional(),
    keepYearly: z.int().min(1).optional(),
    keepWithin: duration.optional(),
    /** Nothing younger than this is ever forgotten, whatever the keep rules say (a retention lock). */
    minimum: duration.optional(),
    /** Nothing older than this is kept (personal data: no longer than its purpose). */
    maximum: duration.optional(),
  })
  .strict();

const verification = z
  .object({
    /** How often, as a cron (in the schedule's zone) or `after-each` snapshot. */
    schedule: z.string().default('after-each'),
    /** structure: check the repository's structure; sample: read back `share` of the data; full: all of
     * it; restore: for postgres, a restore into scratch and a throw-away server (zapas pg verify). */
    depth: z.enum(['structure', 'sample', 'full', 'restore']).default('sample'),
    share: z.number().gt(0).max(1).default(0.1),
  })
  .strict();

const common = {
  repository: name('repository'),
  schedules: z.array(schedule).default([]),
  /** Queue message types that start a backup of this source (`backup-now`, `export-ready`, …). */
  events: z.array(z.string().min(1)).default([]),
  /** 0–9, higher first when heavy tasks wait for a slot. */
  priority: z.int().min(0).max(9).default(5),
  dataClass: z.enum(DATA_CLASSES),
  retention: retention.default({}),
  verify: verification.default({ schedule: 'after-each', depth: 'sample', share: 0.1 }),
  /** Sources whose job of the same trigger must have succeeded first. */
  after: z.array(name('source')).default([]),
  /** Heavy steps run as a container task (agent); light ones in the function. */
  heavy: z.boolean().optional(),
};

const filesSource = z
  .object({
    type: z.literal('files'),
    paths: z.array(z.string().min(1)).min(1, 'at least one path'),
    excludes: z.array(z.string().min(1)).default([]),
    ...common,
  })
  .strict();

const postgresSource = z
  .object({
    type: z.literal('postgres'),
    /** libpq conninfo without a password (it would show in the process list): use .pgpass or PGPASSWORD. */
    conninfo: z
      .string()
      .min(1)
      .refine((s) => !/\bpassword\s*=/i.test(s) && !/:\/\/[^/@]*:[^/@]*@/.test(s), {
        message: 'must not hold a password: use ~/.pgpass, PGPASSFILE or PGPASSWORD',
      }),
    /** Logical dumps besides base backups: databases to dump. */
    dumps: z.array(z.string().min(1)).default([]),
    ...common,
  })
  .strict();

const bucketSource = z
  .object({
    type: z.literal('s3'),
    bucket: z.string().min(3),
    prefix: z.string().default(''),
    endpoint: z.url().optional(),
    ...common,
  })
  .strict();

const exportSource = z
  .object({
    type: z.literal('export'),
    /** The platform service that drops its export in the landing bucket. */
    service: z.string().min(1),
    /** Where the export lands: s3://bucket/prefix/. */
    landing: z.string().regex(/^s3:\/\/[^/]+\/.*$/, 'an s3://bucket/prefix/ location'),
    ...common,
  })
  .strict();

export const sourceSchema = z.discriminatedUnion('type', [
  filesSource,
  postgresSource,
  bucketSource,
  exportSource,
]);

export const repositorySchema = z
  .object({
    /** A folder or s3://bucket/prefix (with `endpoint` for a non-AWS store). */
    url: z.string().min(1),
    endpoint: z.url().optional(),
    region: z.string().optional(),
    /** Where the repository's data lives, for residency rules (152-FZ: personal data of Russians in RU). */
    residency: z.string().length(2).optional(),
    /** The file holding the repository password; or a KMS key that wraps the master key. */
    passwordFile: z.string().optional(),
    kmsKey: z.string().optional(),
  })
  .strict();

/** A client's allowance on the API: `perSecond` requests every second plus `burst` more per minute. */
const apiRate = z
  .object({ perSecond: z.int().min(1).max(100_000), burst: z.int().min(0).max(10_000_000) })
  .strict();

/** Limits of the HTTP API (defaults: lib/api/limits.ts, docs/service.md). */
const apiSection = z
  .object({
    maxBodyBytes: z
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .optional(),
    requests: apiRate.optional(),
    writes: apiRate.optional(),
    maxQueuedJobsPerSource: z.int().min(1).max(1000).optional(),
    allowedOrigins: z
      .array(z.url({ protocol: /^https?$/ }))
      .max(100)
      .optional(),
    allowedHosts: z
      .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name or address'))
      .max(100)
      .optional(),
  })
  .strict();

export const configSchema = z
  .object({
    version: z.literal(1),
    /** Default zone for schedules and calendar retention. */
    timezone: z.string().default('UTC'),
    /** Heavy tasks (container tasks, pg_basebackup) running at once. */
    maxHeavyTasks: z.int().min(1).max(64).default(2),
    /** When retention runs on every repository, and how long condemned data waits before deletion. */
    purge: z
      .object({ schedule: z.string().default('0 4 * * *'), grace: duration.default('24h') })
      .strict()
      .default({ schedule: '0 4 * * *', grace: '24h' }),
    /** The catalog's housekeeping: finished jobs are pruned once they ended longer ago than this. */
    catalog: z
      .object({
        keepFinishedJobs: duration
          .superRefine((text, ctx) => {
            const problem = jobRetentionProblem(text);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .default(DEFAULT_KEEP_FINISHED_JOBS),
      })
      .strict()
      .default({ keepFinishedJobs: DEFAULT_KEEP_FINISHED_JOBS }),
    repositories: byName('repository', repositorySchema),
    sources: byName('source', sourceSchema),
    /** Intrusion rules' thresholds and windows (lib/audit/intrusion-config.ts; absent: the defaults). */
    detection: detectionSchema.optional(),
    /** Who issues the bearer tokens the HTTP API accepts (docs/security.md). */
    auth: authSettingsSchema.optional(),
    /** Rules narrowing what roles may do per source or data class; absent: the permission table alone. */
    access: accessRulesSchema.optional(),
    /** Limits of the HTTP API (lib/api/limits.ts; absent: the defaults). */
    api: apiSection.optional(),
  })
  .strict();

export type ZapasConfigInput = z.input<typeof configSchema>;
export type ZapasConfig = z.output<typeof configSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;
export type ScheduleConfig = z.output<typeof schedule>;
export type RetentionConfig = z.output<typeof retention>;
