/**
 * A table entry's `grants` as IAM statements on a function's or the agent task's role, each scoped to
 * the named resources only. Object actions are listed one by one rather than through `bucket.grantRead`
 * and friends, which add more than the table says: grantRead lists every bucket it reads, grantDelete
 * includes s3:DeleteObjectVersion — the one action that would let a stolen role erase history from a
 * versioned repository. Here `delete` only writes delete markers; lifecycle expires old versions.
 */
import { Aws } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import type { BucketName, Grants, QueueName } from '../stages';
import { CATALOG_INDEX } from './catalog-table';
import type { ServiceResources } from './resources';

type BucketRight = 'read' | 'write' | 'delete' | 'list';

/** Actions per right, on the bucket's objects (`arn/*`) or, for list, the bucket itself. */
const OBJECT_ACTIONS: Record<BucketRight, readonly string[]> = {
  read: ['s3:GetObject'],
  // Multipart uploads (lib-storage for large packs) need the abort too.
  write: ['s3:PutObject', 's3:AbortMultipartUpload'],
  delete: ['s3:DeleteObject'],
  list: ['s3:ListBucket'],
};

/**
 * SSE-KMS: reading decrypts, writing makes a data key — and completing a multipart upload decrypts it
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
 */
const KEY_ACTIONS: Record<BucketRight, readonly string[]> = {
  read: ['kms:Decrypt'],
  write: ['kms:GenerateDataKey', 'kms:Decrypt'],
  delete: [],
  list: [],
};

const CATALOG_ACTIONS = {
  read: [
    'dynamodb:GetItem',
    'dynamodb:BatchGetItem',
    'dynamodb:Query',
    'dynamodb:Scan',
    'dynamodb:ConditionCheckItem',
    'dynamodb:DescribeTable',
  ],
  write: ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
} as const;

/**
 * DynamoDB under a customer key: reads decrypt, writes also encrypt — aws-cdk-lib's table grants, with
 * their `GenerateDataKey*` and `ReEncrypt*` spelled out (no key pairs: DynamoDB asks for none).
 */
const CATALOG_KEY_ACTIONS: Record<Grants['catalog'], readonly string[]> = {
  read: ['kms:Decrypt', 'kms:DescribeKey'],
  write: [
    'kms:Decrypt',
    'kms:DescribeKey',
    'kms:Encrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
  ],
};

const SECRET_ACTIONS = ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] as const;

/**
 * Use of the deployment's key through one service only: the key serves the buckets, the catalog and the
 * password, and a right to one is no right to the others. Statements on the role, never on the key's
 * policy, which lives in the data stack and would then depend on this one (a reference cycle).
 */
function keyStatement(
  resources: ServiceResources,
  actions: readonly string[],
  service: string,
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: [...actions].sort(),
    resources: [resources.key.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${Aws.REGION}.amazonaws.com` } },
  });
}

/** Gives `grantee` exactly what `grants` says; `consumes` is its trigger queue (for `dlq`). */
export function applyGrants(
  grantee: iam.IGrantable,
  grants: Grants,
  resources: ServiceResources,
  consumes: readonly QueueName[] = [],
): void {
  const principal = grantee.grantPrincipal;
  const keyActions = new Set<string>();
  for (const [name, rights] of Object.entries(grants.buckets) as [BucketName, BucketRight[]][]) {
    const bucket = resources.buckets[name];
    for (const right of rights) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: [...OBJECT_ACTIONS[right]],
          resources: [right === 'list' ? bucket.bucketArn : bucket.arnForObjects('*')],
        }),
      );
      for (const a of KEY_ACTIONS[right]) keyActions.add(a);
    }
    // After the statements: the suppression lands on the policy resource they made.
    if (rights.some((r) => r !== 'list')) acknowledgeObjectWildcard(principal, name);
  }
  if (keyActions.size > 0) principal.addToPrincipalPolicy(keyStatement(resources, [...keyActions], 's3'));
  const catalog = resources.catalog;
  principal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [...CATALOG_ACTIONS.read, ...(grants.catalog === 'write' ? CATALOG_ACTIONS.write : [])],
      resources: [catalog.tableArn, `${catalog.tableArn}/index/${CATALOG_INDEX}`],
    }),
  );
  principal.addToPrincipalPolicy(keyStatement(resources, CATALOG_KEY_ACTIONS[grants.catalog], 'dynamodb'));
  for (const queue of grants.send) resources.queues[queue].queue.grantSendMessages(grantee);
  if (grants.dlq) for (const queue of consumes) resources.queues[queue].dlq.grantSendMessages(grantee);
  if (grants.repositoryKey) {
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: [...SECRET_ACTIONS], resources: [resources.password.secretArn] }),
    );
    principal.addToPrincipalPolicy(keyStatement(resources, ['kms:Decrypt'], 'secretsmanager'));
  }
  if (grants.startsAgent) grantRunAgent(principal, resources);
}

/**
 * cdk-nag flags `<bucket ARN>/*`: object actions name objects, and a repository's objects (packs,
 * indexes, snapshots, locks) are named by content hash and time, under a prefix that zapas.yaml chooses,
 * so no narrower ARN exists. The actions stay the table's, one by one (never s3:*, never
 * DeleteObjectVersion), on the one bucket the grants name. The finding is written with the bucket's
 * logical id in two forms (in-stack and exported), hence the pattern.
 */
function acknowledgeObjectWildcard(principal: iam.IPrincipal, bucket: BucketName): void {
  if (!Construct.isConstruct(principal)) return;
  const id = bucket === 'repository' ? 'Repository' : 'Landing';
  const finding = new RegExp(
    `^Resource::(<${id}[0-9A-F]{8}\\.Arn>|[a-z0-9-]+:ExportsOutputFnGetAtt${id}[0-9A-F]{8}Arn[0-9A-F]{8})/\\*$`,
  );
  NagSuppressions.addResourceSuppressions(
    principal,
    [
      {
        id: 'AwsSolutions-IAM5',
        reason: `object actions on the ${bucket} bucket's objects, which are named by content hash under a prefix of the configuration's choosing: no narrower ARN exists; the actions are the stage table's, listed one by one`,
        appliesTo: [{ regex: `/${finding.source}/` }],
      },
    ],
    true,
  );
}

/** ecs:RunTask of the agent's task definition on its cluster, and passing its two roles to ECS only. */
function grantRunAgent(principal: iam.IPrincipal, resources: ServiceResources): void {
  const { cluster, taskDefinition } = resources.agent;
  principal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ecs:RunTask'],
      resources: [taskDefinition.taskDefinitionArn],
      conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
    }),
  );
  principal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [taskDefinition.taskRole.roleArn, taskDefinition.obtainExecutionRole().roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }),
  );
}
