/**
 * The environment a function or the agent starts with, by the names of lib/infra/env.ts: the validated
 * configuration, the Yandex endpoints and region, and the names and URLs of exactly the buckets, queues
 * and agent its grants reach. Credentials are not here: they come from Lockbox (credentials.ts).
 *
 * Cloud Functions allow 4 KB of environment in all. Values Terraform fills in at apply time (queue URLs,
 * the document API endpoint) are counted at a generous allowance each, so that a configuration that is
 * too large fails here, naming the function, and not in the middle of `terraform apply`.
 */
import { ENV, queueUrlEnv } from '../env';
import type { Grants, Trigger } from '../stages';
import { DeploymentError } from './errors';
import { FUNCTION_ENV_LIMIT_BYTES, S3_ENDPOINT, SQS_ENDPOINT, YANDEX_REGION } from './limits';
import { dlqLabel, REF } from './resources';
import { literal } from './terraform-json';

/** What an interpolated value is counted as: longer than any URL or endpoint Yandex hands out. */
export const REFERENCE_ALLOWANCE_BYTES = 128;

export interface Workload {
  name: string;
  grants: Grants;
  triggers: readonly Trigger[];
}

/** The environment of a workload; `configJson` is the checked configuration as JSON. */
export function environmentOf(w: Workload, configJson: string): Record<string, string> {
  const env: Record<string, string> = {
    [ENV.config]: literal(configJson),
    [ENV.region]: YANDEX_REGION,
    [ENV.s3Endpoint]: S3_ENDPOINT,
    [ENV.sqsEndpoint]: SQS_ENDPOINT,
    [ENV.dynamodbEndpoint]: REF.documentApiEndpoint(),
    [ENV.catalogTable]: REF.tableName(),
  };
  if (w.grants.buckets.repository?.length) env[ENV.repositoryBucket] = REF.bucketName('repository');
  if (w.grants.buckets.landing?.length) env[ENV.landingBucket] = REF.bucketName('landing');
  if (w.grants.dlq) {
    const queue = w.triggers.find((t) => t.kind === 'queue');
    if (!queue)
      throw new DeploymentError(`${w.name}: its grants have a dead-letter queue, but no queue triggers it`);
    env[ENV.dlqUrl] = REF.queueUrl(dlqLabel(queue.queue));
  }
  for (const queue of w.grants.send) env[queueUrlEnv(queue)] = REF.queueUrl(queue);
  if (w.grants.startsAgent) env[ENV.agentUrl] = REF.containerUrl();
  return env;
}

/** The environment's size as Cloud Functions counts it (names and values), interpolations at their allowance. */
export function environmentBytes(env: Record<string, string>): number {
  let total = 0;
  for (const [name, value] of Object.entries(env)) {
    const references = value.match(/(?<!\$)\$\{[^}]*\}/g) ?? [];
    const text = references.reduce((rest, r) => rest.replace(r, ''), value).replace(/\$\$\{/g, '${');
    total +=
      Buffer.byteLength(name) + Buffer.byteLength(text) + references.length * REFERENCE_ALLOWANCE_BYTES;
  }
  return total;
}

/** Refuses an environment over the limit, saying what to shrink. */
export function checkEnvironmentSize(workload: string, env: Record<string, string>): void {
  const bytes = environmentBytes(env);
  if (bytes > FUNCTION_ENV_LIMIT_BYTES)
    throw new DeploymentError(
      `${workload}: its environment would be about ${bytes} bytes, over Cloud Functions' ${FUNCTION_ENV_LIMIT_BYTES} (${ENV.config} holds the configuration as JSON, ${Buffer.byteLength(env[ENV.config] ?? '')} bytes): shorten the configuration`,
    );
}
