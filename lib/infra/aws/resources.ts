/**
 * What the service stack's parts are wired to, by the stage table's names: buckets, the catalog, the
 * password, the queues and the agent. Grants, environment and triggers all resolve a table entry here.
 */
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { BucketName, QueueName } from '../stages';

export interface QueuePair {
  queue: sqs.Queue;
  dlq: sqs.Queue;
}

/** Where the agent runs: RunTask needs all of it. */
export interface AgentPlacement {
  cluster: ecs.ICluster;
  taskDefinition: ecs.FargateTaskDefinition;
  subnets: ec2.ISubnet[];
  securityGroup: ec2.ISecurityGroup;
}

export interface ServiceResources {
  buckets: Record<BucketName, s3.IBucket>;
  /** The key of the buckets, the catalog and the password. */
  key: kms.IKey;
  catalog: dynamodb.ITable;
  password: secrets.ISecret;
  queues: Record<QueueName, QueuePair>;
  agent: AgentPlacement;
  /** The validated configuration as JSON text (ZAPAS_CONFIG). */
  configJson: string;
}
