/**
 * The environment contract between the deployments (CDK, Yandex Terraform) and the function runtime
 * (functions/common/runtime.ts): the names, once. Deployments set these; handlers read them at init.
 */
import type { QueueName } from './stages';

export const ENV = {
  /** The configuration (zapas.yaml as JSON or YAML text). */
  config: 'ZAPAS_CONFIG',
  /** Or a file holding it (local runs, tests). */
  configFile: 'ZAPAS_CONFIG_FILE',
  catalogTable: 'ZAPAS_CATALOG_TABLE',
  /** YDB's DynamoDB-compatible document API endpoint, or a local one; AWS DynamoDB when unset. */
  dynamodbEndpoint: 'ZAPAS_DYNAMODB_ENDPOINT',
  /** Yandex Message Queue (https://message-queue.api.cloud.yandex.net) or a local server; AWS when unset. */
  sqsEndpoint: 'ZAPAS_SQS_ENDPOINT',
  /** Yandex Object Storage (https://storage.yandexcloud.net) or a local server; AWS when unset. */
  s3Endpoint: 'ZAPAS_S3_ENDPOINT',
  /** Region for every client (ru-central1 on Yandex Cloud). */
  region: 'ZAPAS_REGION',
  repositoryBucket: 'ZAPAS_REPOSITORY_BUCKET',
  landingBucket: 'ZAPAS_LANDING_BUCKET',
  /** The dead-letter queue of the function's trigger queue: poison messages go there with their reason. */
  dlqUrl: 'ZAPAS_DLQ_URL',
  /** The repository password, injected by the platform (Yandex Lockbox secret → environment variable). */
  password: 'ZAPAS_PASSWORD',
  /** Or the ARN of the Secrets Manager secret that holds it, read once at init (AWS). */
  passwordSecret: 'ZAPAS_PASSWORD_SECRET',
  /** AWS: the ECS cluster, task definition, subnets (comma-separated) and security group of the agent. */
  agentCluster: 'ZAPAS_AGENT_CLUSTER',
  agentTaskDefinition: 'ZAPAS_AGENT_TASK_DEFINITION',
  agentSubnets: 'ZAPAS_AGENT_SUBNETS',
  agentSecurityGroup: 'ZAPAS_AGENT_SECURITY_GROUP',
  /** Yandex Cloud: the agent's Serverless Container URL (invoked with the function's IAM token). */
  agentUrl: 'ZAPAS_AGENT_URL',
  /** Bytes per ingest part (default 32 MiB): how an export is cut over ingest invocations. */
  partBytes: 'ZAPAS_INGEST_PART_BYTES',
  /** The agent: the job it runs. */
  agentJob: 'ZAPAS_JOB_ID',
} as const;

/** The variable that holds the URL of a queue a function sends to: ZAPAS_QUEUE_INGEST_URL, … */
export function queueUrlEnv(queue: QueueName): string {
  return `ZAPAS_QUEUE_${queue.toUpperCase()}_URL`;
}
