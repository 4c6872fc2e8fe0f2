import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, Stage } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { GSI1 } from '../../lib/catalog/dynamo-catalog';
import { agentImage } from '../../lib/infra/aws/agent-task';
import { buildApp, type ZapasStacks } from '../../lib/infra/aws/app';
import { CATALOG_INDEX } from '../../lib/infra/aws/catalog-table';
import { awsCron } from '../../lib/infra/aws/cron';
import { DataStack } from '../../lib/infra/aws/data-stack';
import { CONFIG_ENV_MAX_BYTES } from '../../lib/infra/aws/deployment-config';
import { DeploymentError } from '../../lib/infra/aws/errors';
import { ServiceStack } from '../../lib/infra/aws/service-stack';
import { environmentSettings } from '../../lib/infra/aws/settings';
import { ENV, queueUrlEnv } from '../../lib/infra/env';
import { AGENT, type Grants, QUEUES, type QueueName, STAGES, type StageSpec } from '../../lib/infra/stages';
import { ConfigError, parseConfig } from '../../lib/pipeline/config/load';

/**
 * The AWS app, read from the stage table: each assertion names the property that matters (encryption,
 * TLS-only, DLQs, IAM scope), not a snapshot. Stacks are built from cdk.json's own context, with asset
 * staging off so that no bundle is copied.
 */
const ROOT = resolve(__dirname, '..', '..');
const CDK_CONTEXT = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;

function build(context: Record<string, unknown> = {}): ZapasStacks {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:disable-asset-staging': true, ...context } });
  return buildApp(app, ROOT);
}

/** A service stack of `stages` alone (a table variant), with a prebuilt agent image. */
function serviceOf(stages: readonly StageSpec[], root = ROOT): ServiceStack {
  const app = new App({ context: { 'aws:cdk:disable-asset-staging': true } });
  const settings = environmentSettings(CDK_CONTEXT.environments, 'dev');
  const data = new DataStack(app, 'data', { settings });
  return new ServiceStack(app, 'service', {
    settings,
    data,
    root,
    configJson: '{}',
    agentImage: ecs.ContainerImage.fromRegistry('example.com/agent:1'),
    stages,
  });
}

interface Templates {
  data: Template;
  service: Template;
  stacks: ZapasStacks;
}
const cache = new Map<string, Templates>();
function templates(env: 'dev' | 'prod'): Templates {
  let t = cache.get(env);
  if (!t) {
    const stacks = build({ env });
    t = { data: Template.fromStack(stacks.data), service: Template.fromStack(stacks.service), stacks };
    cache.set(env, t);
  }
  return t;
}

type Resource = { Type: string; Properties: Record<string, unknown> } & Record<string, unknown>;
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const mentions = (value: unknown, id: string) => JSON.stringify(value).includes(id);

/** The logical id of the one resource of `type` whose properties contain `props`. */
function logicalId(template: Template, type: string, props: Record<string, unknown>): string {
  const found = Object.keys(template.findResources(type, { Properties: props }));
  if (found.length !== 1) throw new Error(`${found.length} ${type} match ${JSON.stringify(props)}`);
  return found[0]!;
}

const functionId = (t: Template, stage: string) =>
  logicalId(t, 'AWS::Lambda::Function', { FunctionName: `zapas-dev-${stage}` });
const queueId = (t: Template, name: string) =>
  logicalId(t, 'AWS::SQS::Queue', { QueueName: `zapas-dev-${name}` });

/** Every IAM statement attached to the role with logical id `roleId`. */
function statementsOfRole(t: Template, roleId: string): Statement[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((p) => mentions(p.Properties.Roles, roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

function roleOfFunction(t: Template, stage: string): string {
  const fn = t.toJSON().Resources[functionId(t, stage)] as Resource;
  return (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

function agentRole(t: Template): string {
  const td = Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0] as Resource;
  return (td.Properties.TaskRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

const statementsOf = (t: Template, stage: string) => statementsOfRole(t, roleOfFunction(t, stage));
const allActions = (statements: Statement[]) => statements.flatMap(actionsOf);

/** The S3 actions a role has on objects or the bucket of `bucket` ('Repository' or 'Landing'). */
function s3Actions(statements: Statement[], bucket: string): string[] {
  return statements
    .filter((s) => mentions(s.Resource, `ExportsOutputFnGetAtt${bucket}`))
    .flatMap(actionsOf)
    .filter((a) => a.startsWith('s3:'))
    .sort();
}

/** The queues (by table name, `<name>` or `<name>-dlq`) a role may send to. */
function sendTargets(t: Template, statements: Statement[]): string[] {
  const names = QUEUES.flatMap((q) => [q.name, `${q.name}-dlq`]);
  return statements
    .filter((s) => actionsOf(s).includes('sqs:SendMessage'))
    .flatMap((s) => names.filter((n) => mentions(s.Resource, `"${queueId(t, n)}"`)))
    .sort();
}

const EXPECTED_S3: Record<string, string[]> = {
  read: ['s3:GetObject'],
  write: ['s3:AbortMultipartUpload', 's3:PutObject'],
  delete: ['s3:DeleteObject'],
  list: ['s3:ListBucket'],
};
const expectedS3 = (grants: Grants, bucket: 'repository' | 'landing') =>
  (grants.buckets[bucket] ?? []).flatMap((r) => EXPECTED_S3[r]!).sort();
const triggerQueues = (stage: StageSpec) =>
  stage.triggers.flatMap((t): QueueName[] => (t.kind === 'queue' ? [t.queue] : []));

describe('data stack: buckets', () => {
  const tlsOnly = {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      ]),
    },
  };

  it('both buckets: versioned, all public access blocked, SSE-KMS under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    data.resourcePropertiesCountIs(
      'AWS::S3::Bucket',
      {
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [key, 'Arn'] },
              },
            },
          ],
        },
      },
      2,
    );
    data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('bucket names are known before deployment: zapas-<env>-<bucket>-<account>-<region>', () => {
    const joined = (bucket: string) => ({
      'Fn::Join': ['', [`zapas-dev-${bucket}-`, { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]],
    });
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', { BucketName: joined('repository') });
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', { BucketName: joined('landing') });
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const pinned = {
      ...environments,
      dev: { ...environments.dev, account: '123456789012', region: 'eu-north-1' },
    };
    Template.fromStack(build({ environments: pinned }).data).hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'zapas-dev-repository-123456789012-eu-north-1',
    });
  });

  it('both buckets refuse requests without TLS (aws:SecureTransport false → Deny)', () => {
    templates('dev').data.resourcePropertiesCountIs('AWS::S3::BucketPolicy', tlsOnly, 2);
  });

  it('the repository tiers objects to Intelligent-Tiering and expires noncurrent versions', () => {
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'cold-tier',
            Status: 'Enabled',
            ObjectSizeGreaterThan: '131072',
            Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 }],
          }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
        ]),
      },
    });
  });

  it('the landing bucket expires its objects after the environment’s days', () => {
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire', ExpirationInDays: 3 })] },
    });
    templates('prod').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire', ExpirationInDays: 7 })] },
    });
  });

  it('prod: Object Lock in COMPLIANCE mode with default retention; buckets, table, key and secret retained', () => {
    const { data } = templates('prod');
    data.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
      },
    });
    for (const type of [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::KMS::Key',
      'AWS::SecretsManager::Secret',
    ])
      for (const r of Object.values(data.findResources(type))) {
        expect(r.DeletionPolicy).toBe('Retain');
        expect(r.UpdateReplacePolicy).toBe('Retain');
      }
    data.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    expect(templates('prod').stacks.data.terminationProtection).toBe(true);
  });

  it('dev: no Object Lock, everything removable, buckets emptied on removal', () => {
    const { data } = templates('dev');
    data.resourcePropertiesCountIs('AWS::S3::Bucket', { ObjectLockEnabled: Match.anyValue() }, 0);
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::KMS::Key'])
      for (const r of Object.values(data.findResources(type))) expect(r.DeletionPolicy).toBe('Delete');
    data.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });
});

describe('data stack: catalog and password', () => {
  it('table: pk/sk strings, gsi1 (ALL), on demand, TTL on ttl, PITR, KMS under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    expect(CATALOG_INDEX).toBe(GSI1);
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'zapas-dev-catalog',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } },
    });
  });

  it('the repository password is a generated secret under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    data.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'zapas-dev-password',
      KmsKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
      GenerateSecretString: Match.objectLike({ PasswordLength: 48 }),
    });
  });
});

describe('service stack: queues', () => {
  it('one queue and one DLQ per table entry, SSE, with the table’s receives, visibility and retention', () => {
    const { service } = templates('dev');
    service.resourceCountIs('AWS::SQS::Queue', QUEUES.length * 2);
    for (const q of QUEUES) {
      service.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `zapas-dev-${q.name}`,
        VisibilityTimeout: q.visibilitySeconds,
        MessageRetentionPeriod: q.retentionDays * 86_400,
        SqsManagedSseEnabled: true,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [queueId(service, `${q.name}-dlq`), 'Arn'] },
          maxReceiveCount: q.maxReceives,
        },
      });
      service.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `zapas-dev-${q.name}-dlq`,
        MessageRetentionPeriod: 14 * 86_400,
        SqsManagedSseEnabled: true,
      });
    }
  });

  it('every queue refuses requests without TLS', () => {
    const { service } = templates('dev');
    for (const q of QUEUES)
      for (const name of [q.name, `${q.name}-dlq`])
        service.hasResourceProperties('AWS::SQS::QueuePolicy', {
          Queues: [{ Ref: queueId(service, name) }],
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            ]),
          },
        });
  });
});

describe('service stack: functions and triggers', () => {
  it('one Lambda per stage: prebuilt bundle, index.handler, nodejs22.x, memory and timeout from the table', () => {
    const { service } = templates('dev');
    for (const stage of STAGES)
      service.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: `zapas-dev-${stage.name}`,
        Handler: 'index.handler',
        Runtime: 'nodejs22.x',
        Architectures: ['x86_64'],
        MemorySize: stage.memoryMiB,
        Timeout: stage.timeoutSeconds,
      });
    const named = Object.values(service.findResources('AWS::Lambda::Function')).filter((f) =>
      String(f.Properties.FunctionName ?? '').startsWith('zapas-dev-'),
    );
    expect(named).toHaveLength(STAGES.length);
  });

  it('environment: the validated config, the catalog, and only what the grants reach', () => {
    const { service } = templates('dev');
    for (const stage of STAGES) {
      const fn = service.toJSON().Resources[functionId(service, stage.name)] as Resource;
      const vars = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const config = parseConfig(vars[ENV.config] as string);
      expect(Object.keys(config.sources)).toContain('payments');
      expect(vars[ENV.catalogTable]).toBeDefined();
      const g = stage.grants;
      expect(ENV.repositoryBucket in vars).toBe(g.buckets.repository !== undefined);
      expect(ENV.landingBucket in vars).toBe(g.buckets.landing !== undefined);
      expect(ENV.passwordSecret in vars).toBe(g.repositoryKey);
      expect(ENV.dlqUrl in vars).toBe(Boolean(g.dlq) && triggerQueues(stage).length > 0);
      expect(ENV.agentTaskDefinition in vars).toBe(Boolean(g.startsAgent));
      expect(ENV.agentSubnets in vars).toBe(Boolean(g.startsAgent));
      for (const q of QUEUES) expect(queueUrlEnv(q.name) in vars).toBe(g.send.includes(q.name));
    }
  });

  it('warns when the configuration keeps a repository where no function can reach it', () => {
    Annotations.fromStack(templates('dev').stacks.service).hasWarning(
      '/zapas-dev-service',
      Match.stringLikeRegexp('repositories main \\(\\./zapas-repo\\) are not s3://'),
    );
  });

  it('queue triggers: event source mappings with the table’s batch size that report partial failures', () => {
    const { service } = templates('dev');
    const mappings = STAGES.flatMap((s) =>
      s.triggers.flatMap((t) => (t.kind === 'queue' ? [{ stage: s.name, ...t }] : [])),
    );
    service.resourceCountIs('AWS::Lambda::EventSourceMapping', mappings.length);
    for (const m of mappings)
      service.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: functionId(service, m.stage) },
        EventSourceArn: { 'Fn::GetAtt': [queueId(service, m.queue), 'Arn'] },
        BatchSize: m.batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
  });

  it('schedule triggers: EventBridge rules with the converted cron, targeting the stage', () => {
    const { service } = templates('dev');
    const schedules = STAGES.flatMap((s) =>
      s.triggers.flatMap((t) => (t.kind === 'schedule' ? [{ stage: s.name, cron: t.cron }] : [])),
    );
    service.resourceCountIs('AWS::Events::Rule', schedules.length);
    for (const s of schedules)
      service.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: awsCron(s.cron),
        State: 'ENABLED',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [functionId(service, s.stage), 'Arn'] } })],
      });
    service.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(* * * * ? *)' });
    service.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'cron(0 1 * * ? *)' });
  });

  it('bucket trigger: landing OBJECT_CREATED under exports/ notifies orchestrate', () => {
    const { service } = templates('dev');
    service.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { 'Fn::ImportValue': Match.stringLikeRegexp('Landing') },
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'exports/' }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [functionId(service, 'orchestrate'), 'Arn'] },
          },
        ],
      },
    });
    service.hasResourceProperties('AWS::Lambda::Permission', {
      Principal: 's3.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [functionId(service, 'orchestrate'), 'Arn'] },
    });
  });

  it('http trigger: an HTTP API routing ANY /v1/{proxy+} to the api function (payload 2.0)', () => {
    const { service } = templates('dev');
    service.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    service.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', Name: 'zapas-dev-api' });
    service.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /v1/{proxy+}' });
    service.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [functionId(service, 'api'), 'Arn'] },
    });
  });

  it('a stage whose bundle is not built synthesises with a warning, its folder created', () => {
    const root = mkdtempSync(join(tmpdir(), 'zapas-cdk-'));
    try {
      const service = serviceOf(
        STAGES.filter((s) => s.name === 'verify'),
        root,
      );
      Annotations.fromStack(service).hasWarning(
        '/service/Verify',
        Match.stringLikeRegexp('dist/functions/verify/index.cjs is not built'),
      );
      expect(existsSync(join(root, 'dist/functions/verify'))).toBe(true);
      Template.fromStack(service).hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: 'zapas-dev-verify',
      });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('service stack: the agent', () => {
  it('a Fargate task definition with the table’s CPU and memory, logging to its own group', () => {
    const { service } = templates('dev');
    service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Family: 'zapas-dev-agent',
      Cpu: String(AGENT.cpu * 1024),
      Memory: String(AGENT.memoryMiB),
      NetworkMode: 'awsvpc',
      RequiresCompatibilities: ['FARGATE'],
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'agent',
          Image: { 'Fn::Sub': Match.stringLikeRegexp('cdk-hnb659fds-container-assets') },
          LogConfiguration: Match.objectLike({ LogDriver: 'awslogs' }),
          Environment: Match.arrayWith([Match.objectLike({ Name: ENV.passwordSecret })]),
        }),
      ],
    });
    service.resourceCountIs('AWS::ECS::Cluster', 1);
    service.resourceCountIs('AWS::EC2::NatGateway', 1);
    service.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
  });

  it('the image is built from functions/agent/Dockerfile with the repository root as its context', () => {
    const { stacks } = templates('dev');
    const assembly = Stage.of(stacks.service)!.synth();
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, `${stacks.service.artifactId}.assets.json`), 'utf8'),
    ) as { dockerImages: Record<string, { source: { directory: string; dockerFile: string } }> };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toEqual(
      expect.objectContaining({ directory: ROOT, dockerFile: AGENT.dockerfile }),
    );
    const empty = mkdtempSync(join(tmpdir(), 'zapas-cdk-'));
    try {
      expect(() => agentImage(empty)).toThrow(/functions\/agent\/Dockerfile is missing.*agentImage/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('-c agentImage=<uri> deploys a prebuilt image', () => {
    const { service } = build({ agentImage: 'example.com/zapas-agent:1' });
    Template.fromStack(service).hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Image: 'example.com/zapas-agent:1' })],
    });
  });
});

describe('service stack: least privilege from the grants', () => {
  it('S3: each stage has exactly the table’s object actions on each bucket, never DeleteObjectVersion', () => {
    const { service } = templates('dev');
    for (const stage of STAGES) {
      const statements = statementsOf(service, stage.name);
      expect(s3Actions(statements, 'Repository')).toEqual(expectedS3(stage.grants, 'repository'));
      expect(s3Actions(statements, 'Landing')).toEqual(expectedS3(stage.grants, 'landing'));
      const s3 = allActions(statements).filter((a) => a.startsWith('s3:'));
      expect(s3).not.toContain('s3:DeleteObjectVersion');
      expect(s3.filter((a) => a.includes('*'))).toEqual([]);
    }
  });

  it('api has no S3 action, no secret and no agent; verify cannot delete or write', () => {
    const { service } = templates('dev');
    const api = allActions(statementsOf(service, 'api'));
    expect(api.filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(api.filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    expect(api).not.toContain('ecs:RunTask');
    const verify = allActions(statementsOf(service, 'verify'));
    expect(verify).not.toContain('s3:DeleteObject');
    expect(verify).not.toContain('s3:PutObject');
    expect(verify).toContain('s3:GetObject');
  });

  it('only orchestrate runs the agent: ecs:RunTask on its task definition in its cluster, PassRole to ECS only', () => {
    const { service } = templates('dev');
    const runners = Object.entries(service.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => mentions(p.Properties.PolicyDocument, 'ecs:RunTask'))
      .map(([, p]) => p.Properties.Roles);
    expect(runners).toEqual([[{ Ref: roleOfFunction(service, 'orchestrate') }]]);
    const statements = statementsOf(service, 'orchestrate');
    const taskDefinition = logicalId(service, 'AWS::ECS::TaskDefinition', {});
    const cluster = logicalId(service, 'AWS::ECS::Cluster', {});
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'ecs:RunTask',
        Resource: { Ref: taskDefinition },
        Condition: { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [cluster, 'Arn'] } } },
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: 'iam:PassRole',
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    for (const stage of STAGES.filter((s) => !s.grants.startsAgent))
      expect(allActions(statementsOf(service, stage.name))).not.toContain('iam:PassRole');
  });

  it('queues: each stage sends to the table’s queues, and to its trigger’s DLQ only with dlq', () => {
    const { service } = templates('dev');
    for (const stage of STAGES) {
      const dlqs = stage.grants.dlq ? triggerQueues(stage).map((q) => `${q}-dlq`) : [];
      expect(sendTargets(service, statementsOf(service, stage.name))).toEqual(
        [...stage.grants.send, ...dlqs].sort(),
      );
    }
    expect(sendTargets(service, statementsOfRole(service, agentRole(service)))).toEqual(
      [...AGENT.grants.send].sort(),
    );
  });

  it('a consumer without dlq gets no DLQ right and no DLQ URL', () => {
    const verify = STAGES.find((s) => s.name === 'verify')!;
    const service = Template.fromStack(serviceOf([{ ...verify, grants: { ...verify.grants, dlq: false } }]));
    expect(sendTargets(service, statementsOf(service, 'verify'))).toEqual([]);
    const fn = service.toJSON().Resources[functionId(service, 'verify')] as Resource;
    expect(
      (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables,
    ).not.toHaveProperty(ENV.dlqUrl);
  });

  it('the password secret is readable only where repositoryKey, and every key use goes through one service', () => {
    const { service } = templates('dev');
    const roles = [
      ...STAGES.map((s) => ({ grants: s.grants, statements: statementsOf(service, s.name) })),
      { grants: AGENT.grants, statements: statementsOfRole(service, agentRole(service)) },
    ];
    for (const { grants, statements } of roles) {
      expect(allActions(statements).includes('secretsmanager:GetSecretValue')).toBe(grants.repositoryKey);
      for (const s of statements.filter((x) => actionsOf(x).some((a) => a.startsWith('kms:'))))
        expect(s.Condition).toEqual({ StringEquals: { 'kms:ViaService': expect.anything() } });
    }
  });

  it('catalog: write stages get item writes, and nothing outside the table and its indexes', () => {
    const { service } = templates('dev');
    for (const stage of STAGES) {
      const catalog = statementsOf(service, stage.name).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(catalog).toHaveLength(1);
      expect(actionsOf(catalog[0]!).includes('dynamodb:PutItem')).toBe(stage.grants.catalog === 'write');
      expect(mentions(catalog[0]!.Resource, '/index/*')).toBe(true);
    }
  });

  it('docs/deploy-aws.md’s IAM matrix is the table’s', () => {
    // Table cells as the formatter pads them or not.
    const cells = (line: string) => line.trim().replace(/\s*\|\s*/g, '|');
    const doc = readFileSync(join(ROOT, 'docs', 'deploy-aws.md'), 'utf8')
      .split('\n')
      .map(cells);
    const list = (xs: readonly string[] | undefined) => (xs?.length ? xs.join(', ') : '–');
    const yes = (b: boolean | undefined) => (b ? 'yes' : 'no');
    const row = (part: string, g: Grants, consumes: QueueName[]) =>
      `| ${part} | ${list(g.buckets.repository)} | ${list(g.buckets.landing)} | ${g.catalog} | ${list(g.send)} | ${list(
        g.dlq ? consumes : [],
      )} | ${yes(g.repositoryKey)} | ${yes(g.startsAgent)} |`;
    for (const stage of STAGES)
      expect(doc).toContain(cells(row(stage.name, stage.grants, triggerQueues(stage))));
    expect(doc).toContain(cells(row('agent (task role)', AGENT.grants, [])));
  });

  it('the agent task role has exactly AGENT.grants on the buckets and no ECS rights', () => {
    const { service } = templates('dev');
    const statements = statementsOfRole(service, agentRole(service));
    expect(s3Actions(statements, 'Repository')).toEqual(expectedS3(AGENT.grants, 'repository'));
    expect(s3Actions(statements, 'Landing')).toEqual([]);
    expect(allActions(statements).filter((a) => a.startsWith('ecs:'))).toEqual([]);
  });
});

describe('service stack: alarms', () => {
  it('one alarm per DLQ on visible messages > 0, to the alarm topic', () => {
    const { service } = templates('dev');
    const topic = logicalId(service, 'AWS::SNS::Topic', {});
    for (const q of QUEUES)
      service.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(service, `${q.name}-dlq`), 'QueueName'] } },
        ],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        AlarmActions: [{ Ref: topic }],
      });
    service.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { Namespace: 'AWS/SQS' }, QUEUES.length);
  });

  it('failed jobs: a metric filter on every function’s and the agent’s log group, and an alarm on it', () => {
    const { service } = templates('dev');
    service.resourcePropertiesCountIs(
      'AWS::Logs::MetricFilter',
      {
        FilterPattern: '{ $.event = "job-failed" }',
        MetricTransformations: [{ MetricNamespace: 'zapas/dev', MetricName: 'JobsFailed', MetricValue: '1' }],
      },
      STAGES.length + 1,
    );
    service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'zapas/dev',
      MetricName: 'JobsFailed',
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });
});

describe('what synth refuses', () => {
  const invalid = (edit: (text: string) => string) => {
    const dir = mkdtempSync(join(tmpdir(), 'zapas-cdk-'));
    const file = join(dir, 'zapas.yaml');
    writeFileSync(file, edit(readFileSync(join(ROOT, 'examples/zapas.yaml'), 'utf8')));
    return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
  };

  it('an invalid configuration, with parseConfig’s error naming the field', () => {
    const { file, done } = invalid((t) => t.replace('cron: "0 3 * * *"', 'cron: "61 3 * * *"'));
    try {
      expect(() => build({ config: file })).toThrow(ConfigError);
      expect(() => build({ config: file })).toThrow(/sources\.catalogue\.schedules\.0\.cron/);
    } finally {
      done();
    }
  });

  it('payment data kept less than five years (the law’s minimum is checked at synth too)', () => {
    const { file, done } = invalid((t) => t.replace('minimum: 5y', 'minimum: 1y'));
    try {
      expect(() => build({ config: file })).toThrow(/sources\.payments\.retention\.minimum/);
    } finally {
      done();
    }
  });

  it('a configuration too large for a Lambda environment', () => {
    const { file, done } = invalid((t) =>
      `${t}\n# padding\n`.replace(
        'paths: [./data/saves]',
        `paths: [${'./x,'.repeat(CONFIG_ENV_MAX_BYTES / 4)}./data/saves]`,
      ),
    );
    try {
      expect(() => build({ config: file })).toThrow(/Lambda environment/);
    } finally {
      done();
    }
  });

  it('a missing configuration file', () => {
    expect(() => build({ config: 'examples/nope.yaml' })).toThrow(/examples\/nope\.yaml.*cannot read/s);
  });

  it('an unknown environment, naming the known ones', () => {
    expect(() => build({ env: 'staging' })).toThrow(/no environment "staging".*dev, prod/);
  });

  it('bad environment settings, naming the field', () => {
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const broken = { ...environments, dev: { ...environments.dev, logRetentionDays: 10 } };
    expect(() => build({ environments: broken })).toThrow(DeploymentError);
    expect(() => build({ environments: broken })).toThrow(/environments\.dev: logRetentionDays/);
  });

  it('Object Lock with removal destroy (a locked bucket cannot be emptied)', () => {
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const broken = {
      ...environments,
      dev: { ...environments.dev, objectLock: { mode: 'GOVERNANCE', days: 1 } },
    };
    expect(() => build({ environments: broken })).toThrow(/objectLock with removal "destroy"/);
  });
});
