import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Stage } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { agentImage } from '../../lib/infra/aws/agent-task';
import { awsCron } from '../../lib/infra/aws/cron';
import { ENV, queueUrlEnv } from '../../lib/infra/env';
import { AGENT, QUEUES, STAGES } from '../../lib/infra/stages';
import { parseConfig } from '../../lib/pipeline/config/load';

import {
  build,
  functionId,
  logicalId,
  queueId,
  type Resource,
  ROOT,
  serviceOf,
  templates,
  triggerQueues,
} from '../support/cdk-templates';

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
