import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { CATALOG_INDEX } from '../../lib/infra/aws/catalog-table';
import { ENV } from '../../lib/infra/env';
import { AGENT, type Grants, type QueueName, STAGES } from '../../lib/infra/stages';

import {
  actionsOf,
  agentRole,
  allActions,
  expectedS3,
  functionId,
  logicalId,
  mentions,
  queueId,
  type Resource,
  ROOT,
  roleOfFunction,
  s3Actions,
  sendTargets,
  serviceOf,
  statementsOf,
  statementsOfRole,
  templates,
  triggerQueues,
} from '../support/cdk-templates';

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

  it('api writes the repository’s audit trail but deletes nothing, touches no landing object, runs no agent; verify writes its audit events, deletes nothing', () => {
    const { service } = templates('dev');
    const statements = statementsOf(service, 'api');
    const api = allActions(statements);
    // The audit trail: events sealed with the repository key, appended under the repository's audit/ prefix.
    expect(s3Actions(statements, 'Repository')).toEqual([
      's3:AbortMultipartUpload',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
    ]);
    expect(s3Actions(statements, 'Landing')).toEqual([]);
    expect(api).not.toContain('s3:DeleteObject');
    expect(api).toContain('secretsmanager:GetSecretValue');
    expect(api).not.toContain('ecs:RunTask');
    expect(sendTargets(service, statements)).toEqual(['alerts']);
    const verify = allActions(statementsOf(service, 'verify'));
    expect(verify).not.toContain('s3:DeleteObject');
    // Its audit events (a verification reads backed-up data); objects are never overwritten (put-if-absent).
    expect(verify).toContain('s3:PutObject');
    expect(verify).toContain('s3:GetObject');
  });

  it('nothing consumes the alerts queue: only the api function may send to it, and no stage reads it', () => {
    const { service } = templates('dev');
    const senders = STAGES.filter((s) =>
      sendTargets(service, statementsOf(service, s.name)).includes('alerts'),
    );
    expect(senders.map((s) => s.name)).toEqual(['api']);
    expect(STAGES.flatMap((s) => triggerQueues(s))).not.toContain('alerts');
    const mappings = Object.values(service.findResources('AWS::Lambda::EventSourceMapping'));
    expect(mappings.filter((m) => mentions(m, queueId(service, 'alerts')))).toEqual([]);
    // The platform's Notification Service finds it by the stack output.
    expect(service.toJSON().Outputs.AlertsQueueUrl.Value).toEqual({ Ref: queueId(service, 'alerts') });
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
      for (const s of statements.filter((x) => actionsOf(x).some((a) => a.startsWith('kms:')))) {
        expect(s.Condition).toEqual({ StringEquals: { 'kms:ViaService': expect.anything() } });
        // No wildcard action: GenerateDataKey* would include key pairs, ReEncrypt* both directions unnamed.
        expect(actionsOf(s).filter((a) => a.includes('*'))).toEqual([]);
      }
    }
  });

  it('catalog: write stages get item writes, and nothing outside the table and its one index', () => {
    const { service } = templates('dev');
    for (const stage of STAGES) {
      const catalog = statementsOf(service, stage.name).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('dynamodb:')),
      );
      expect(catalog).toHaveLength(1);
      expect(actionsOf(catalog[0]!).includes('dynamodb:PutItem')).toBe(stage.grants.catalog === 'write');
      expect(mentions(catalog[0]!.Resource, `/index/${CATALOG_INDEX}`)).toBe(true);
      expect(mentions(catalog[0]!.Resource, '*')).toBe(false);
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
