/**
 * What a stage function (or the agent) gets from its environment, made once per instance: the validated
 * configuration, the catalog, the queues it sends to, the repositories and landing buckets, each behind a
 * circuit breaker, and the service's security parts (made on first use). Names of the variables:
 * lib/infra/env.ts (the deployments set the same ones).
 */
import { readFileSync } from 'node:fs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { ENV, queueUrlEnv } from '../../lib/infra/env';
import type { QueueName } from '../../lib/infra/stages';
import { parseConfig } from '../../lib/pipeline/config/load';
import type { ZapasConfig } from '../../lib/pipeline/config/schema';
import { processLogger } from '../../lib/pipeline/log';
import type { Queue } from '../../lib/pipeline/queues/queue';
import { SqsQueue, sqsClient } from '../../lib/pipeline/queues/sqs-queue';
import { RepositoryOpener } from '../../lib/pipeline/repositories';
import { DependencyGuard } from '../../lib/pipeline/resilience';
import { RetryingCache } from '../../lib/pipeline/retrying-cache';
import { ServiceSecurity } from '../../lib/pipeline/service-security';
import { parseDuration } from '../../lib/policy/duration';
import type { Repository } from '../../lib/repo/repository';
import { openStorage } from '../../lib/storage/open';
import type { Storage } from '../../lib/storage/storage';

export interface Runtime {
  config: ZapasConfig;
  catalog: Catalog;
  env: NodeJS.ProcessEnv;
  /** A queue this function sends to (its URL variable must be set). */
  queue(name: QueueName): Queue;
  /** The dead-letter queue of this function's trigger queue, when it has one. */
  deadLetters?: Queue;
  /** The repository `name`, opened once per instance, through its storage's circuit breaker. */
  repository(name: string): Promise<Repository>;
  /** A landing bucket as storage (object names are its keys). */
  landing(bucket: string): Storage;
  /** The breaker of a dependency (a repository's storage, the catalog). */
  guard(name: string): DependencyGuard;
  /** One JSON line (lib/pipeline/log.ts): `event` and the fields, the scope's correlation id. */
  log(event: string, fields?: Record<string, unknown>, level?: 'info' | 'warn' | 'error'): void;
  /**
   * Token verifier, lockouts, step-up and the audit trail (each event in the repository it concerns),
   * recorded with this part's name as their origin; intrusion alerts go to the `alerts` queue when its
   * URL is set. Made on first use: a stage that records nothing opens no repository for it.
   */
  readonly security: ServiceSecurity;
}

let cached: Runtime | undefined;

/**
 * The instance's runtime, made on first use from process.env (tests reset it with `resetRuntime`).
 * `origin` is the part's name (the stage, or `agent`): one bundle is one part, so the first one holds.
 */
export function runtime(origin: string): Runtime {
  cached ??= makeRuntime(process.env, origin);
  return cached;
}

export function resetRuntime(): void {
  cached = undefined;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`set ${name}`);
  return v;
}

export function makeRuntime(env: NodeJS.ProcessEnv, origin: string): Runtime {
  const text =
    env[ENV.config] ?? (env[ENV.configFile] ? readFileSync(env[ENV.configFile]!, 'utf8') : undefined);
  if (!text) throw new Error(`set ${ENV.config} or ${ENV.configFile}`);
  const config = parseConfig(text, env[ENV.configFile] ?? ENV.config);
  const region = env[ENV.region];
  const dynamo = new DynamoDBClient({
    ...(region ? { region } : {}),
    ...(env[ENV.dynamodbEndpoint] ? { endpoint: env[ENV.dynamodbEndpoint] } : {}),
  });
  const catalog = new DynamoCatalog(dynamo, required(env, ENV.catalogTable), {
    keepFinishedJobs: parseDuration(config.catalog.keepFinishedJobs),
  });
  const sqs = sqsClient({
    ...(region ? { region } : {}),
    ...(env[ENV.sqsEndpoint] ? { endpoint: env[ENV.sqsEndpoint] } : {}),
  });
  const queues = new Map<string, Queue>();
  const guards = new Map<string, DependencyGuard>();
  const repos = new RetryingCache<string, Repository>();
  const guard = (name: string): DependencyGuard => {
    let g = guards.get(name);
    if (!g) {
      g = new DependencyGuard(name);
      guards.set(name, g);
    }
    return g;
  };
  // A failed fetch (a throttle at a cold start) is asked again, not kept for the instance's life.
  const secret = new RetryingCache<string, string | undefined>();
  const opener = new RepositoryOpener(config, {
    baseDir: process.cwd(),
    env,
    password: async () => {
      if (env[ENV.password]) return env[ENV.password];
      const arn = env[ENV.passwordSecret];
      if (!arn) return undefined;
      return secret.get(arn, () =>
        new SecretsManagerClient(region ? { region } : {})
          .send(new GetSecretValueCommand({ SecretId: arn }))
          .then((r) => r.SecretString),
      );
    },
  });
  const dlq = env[ENV.dlqUrl];
  const queue = (name: QueueName): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new SqsQueue(sqs, required(env, queueUrlEnv(name)));
      queues.set(name, q);
    }
    return q;
  };
  // A failed open (storage down, no secret) is tried again by the next invocation.
  const repository = (name: string): Promise<Repository> =>
    repos.get(name, () => guard(`the storage of repository "${name}"`).run(() => opener.get(name)));
  const log: Runtime['log'] = (event, fields = {}, level = 'info') => {
    // One JSON line per event: CloudWatch / Cloud Logging filter on `event` (e.g. job-failed alarms).
    processLogger(env)[level]({ event, ...fields }, event);
  };
  let security: ServiceSecurity | undefined;
  return {
    config,
    catalog,
    env,
    queue,
    ...(dlq ? { deadLetters: new SqsQueue(sqs, dlq) } : {}),
    repository,
    landing(bucket) {
      return openStorage(`s3://${bucket}`, {
        ...(env[ENV.s3Endpoint] ? { s3Endpoint: env[ENV.s3Endpoint] } : {}),
        env,
      });
    },
    guard,
    log,
    get security() {
      security ??= new ServiceSecurity({
        config,
        catalog,
        baseDir: process.cwd(),
        repository,
        origin,
        ...(env[queueUrlEnv('alerts')] ? { notify: queue('alerts') } : {}),
        warn: (message) => log('security-warning', { detail: message }, 'warn'),
      });
      return security;
    },
  };
}
