/**
 * The service's shape, once, for both clouds: the stage functions, the queues between them, the agent
 * container, the buckets, and what each part may touch. The CDK app (lib/infra/aws) and the Yandex
 * Terraform writer (lib/infra/yandex) both read this table and nothing else, so a stage added here appears
 * in both deployments, with the same triggers and the same least-privilege grants.
 */

/** The queues. Each has a dead-letter queue that a message enters after `maxReceives` failed deliveries. */
export interface QueueSpec {
  name: QueueName;
  purpose: string;
  /** Seconds a received message stays invisible; longer than its consumer's timeout (AWS requires ≥). */
  visibilitySeconds: number;
  maxReceives: number;
  /** Days a message (and its dead letter) is kept. */
  retentionDays: number;
}

export type QueueName = 'requests' | 'ingest' | 'verify' | 'alerts';

export type BucketName = 'repository' | 'landing';

/** What starts a function. */
export type Trigger =
  | { kind: 'schedule' /** five-field cron, UTC */; cron: string }
  | { kind: 'queue'; queue: QueueName; batchSize: number }
  | { kind: 'http' }
  | { kind: 'bucket'; bucket: BucketName; prefix: string };

/**
 * What a function or the agent may do. Read/write/delete are object permissions on a bucket; `send`
 * lists the queues it may send to (consuming its trigger queue is implied); `dlq` that it may move poison
 * messages to the dead-letter queue of its trigger queue.
 */
export interface Grants {
  buckets: Partial<Record<BucketName, Array<'read' | 'write' | 'delete' | 'list'>>>;
  catalog: 'read' | 'write';
  send: QueueName[];
  dlq?: boolean;
  /** Starts agent tasks (ECS RunTask / a Serverless Container invocation). */
  startsAgent?: boolean;
  /**
   * Reads the repository password: a Secrets Manager secret (and its KMS key) on AWS, a Lockbox secret
   * injected into the environment (and its KMS key) on Yandex Cloud.
   */
  repositoryKey: boolean;
}

export interface StageSpec {
  name: StageName;
  purpose: string;
  /** The handler's source, bundled to dist/functions/<name>/index.cjs with `handler` exported. */
  entry: string;
  memoryMiB: number;
  timeoutSeconds: number;
  triggers: Trigger[];
  grants: Grants;
}

export type StageName = 'orchestrate' | 'ingest' | 'verify' | 'purge' | 'api';

export interface AgentSpec {
  name: 'agent';
  purpose: string;
  entry: string;
  dockerfile: string;
  cpu: number;
  memoryMiB: number;
  grants: Grants;
}

export const QUEUES: readonly QueueSpec[] = [
  {
    name: 'requests',
    purpose: 'platform messages (back up now, export ready) and finished ingest parts, to orchestrate',
    visibilitySeconds: 6 * 60,
    maxReceives: 5,
    retentionDays: 4,
  },
  {
    name: 'ingest',
    purpose: 'byte ranges of landing objects, to encrypt-chunks',
    visibilitySeconds: 16 * 60,
    maxReceives: 5,
    retentionDays: 4,
  },
  {
    name: 'verify',
    purpose: 'snapshots to verify, to verify',
    visibilitySeconds: 16 * 60,
    maxReceives: 3,
    retentionDays: 4,
  },
  {
    // No stage consumes it: the platform's Notification Service reads it (lib/audit/intrusion.ts).
    name: 'alerts',
    purpose: "security alerts for the platform's Notification Service; zapas only sends",
    visibilitySeconds: 5 * 60,
    maxReceives: 5,
    retentionDays: 14,
  },
];

export const STAGES: readonly StageSpec[] = [
  {
    name: 'orchestrate',
    purpose:
      'jobs from timers, platform messages and landing objects; starts agents, fans out ingest, commits',
    entry: 'functions/orchestrate/handler.ts',
    memoryMiB: 512,
    timeoutSeconds: 5 * 60,
    triggers: [
      { kind: 'schedule', cron: '* * * * *' },
      { kind: 'queue', queue: 'requests', batchSize: 10 },
      { kind: 'bucket', bucket: 'landing', prefix: 'exports/' },
    ],
    grants: {
      buckets: { repository: ['read', 'write', 'list'], landing: ['read', 'delete', 'list'] },
      catalog: 'write',
      send: ['ingest', 'verify', 'requests'],
      dlq: true,
      startsAgent: true,
      repositoryKey: true,
    },
  },
  {
    name: 'ingest',
    purpose: 'encrypt-chunks: one byte range of a landing object into packs and index',
    entry: 'functions/ingest/handler.ts',
    // bench:functions measured a peak RSS near 800 MiB for 32 MiB parts (the part, its chunks, packs).
    memoryMiB: 2048,
    timeoutSeconds: 15 * 60,
    triggers: [{ kind: 'queue', queue: 'ingest', batchSize: 1 }],
    grants: {
      buckets: { repository: ['read', 'write', 'list'], landing: ['read'] },
      catalog: 'write',
      send: ['requests'],
      dlq: true,
      repositoryKey: true,
    },
  },
  {
    name: 'verify',
    purpose: 'structure check and read-back of a sampled or full share of a snapshot',
    entry: 'functions/verify/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 15 * 60,
    triggers: [{ kind: 'queue', queue: 'verify', batchSize: 1 }],
    // Writes only its audit events (put-if-absent under audit/): a verification reads backed-up data.
    grants: {
      buckets: { repository: ['read', 'write', 'list'] },
      catalog: 'write',
      send: [],
      dlq: true,
      repositoryKey: true,
    },
  },
  {
    name: 'purge',
    purpose: 'retention, legal holds, two-phase deletion with a grace period',
    entry: 'functions/purge/handler.ts',
    memoryMiB: 1024,
    timeoutSeconds: 15 * 60,
    triggers: [{ kind: 'schedule', cron: '0 1 * * *' }],
    grants: {
      buckets: { repository: ['read', 'write', 'delete', 'list'] },
      catalog: 'write',
      send: [],
      repositoryKey: true,
    },
  },
  {
    name: 'api',
    purpose: 'HTTP API /v1: sources, jobs, trigger a backup',
    entry: 'functions/api/handler.ts',
    memoryMiB: 256,
    timeoutSeconds: 30,
    triggers: [{ kind: 'http' }],
    // The audit trail: events are sealed with the repository key and written under the repository's
    // audit/ prefix (the key slots are read to unwrap the key); intrusion alerts go to `alerts`.
    grants: {
      buckets: { repository: ['read', 'write', 'list'] },
      catalog: 'write',
      send: ['alerts'],
      repositoryKey: true,
    },
  },
];

export const AGENT: AgentSpec = {
  name: 'agent',
  purpose: 'heavy steps (pg_basebackup, pg_dump, file walks) as a container task',
  entry: 'functions/agent/main.ts',
  dockerfile: 'functions/agent/Dockerfile',
  cpu: 2,
  memoryMiB: 4096,
  grants: {
    buckets: { repository: ['read', 'write', 'list'] },
    catalog: 'write',
    send: ['verify'],
    repositoryKey: true,
  },
};

export function queueSpec(name: QueueName): QueueSpec {
  const q = QUEUES.find((x) => x.name === name);
  if (!q) throw new Error(`no queue ${name} in the stage table`);
  return q;
}

/** The bundle a stage's handler is built to (scripts/build.mjs reads the same table). */
export function bundlePath(stage: StageSpec | AgentSpec): string {
  return `dist/functions/${stage.name}/index.cjs`;
}

/** Names in the cloud: `<prefix>-<part>`, e.g. zapas-dev-ingest, zapas-dev-ingest-dlq. */
export function resourceName(prefix: string, part: string): string {
  return `${prefix}-${part}`;
}
