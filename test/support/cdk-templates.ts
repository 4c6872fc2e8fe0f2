/** Helpers for the CDK stack tests: stacks built from cdk.json's context, templates, IAM look-ups. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { buildApp, type ZapasStacks } from '../../lib/infra/aws/app';
import { DataStack } from '../../lib/infra/aws/data-stack';
import { ServiceStack } from '../../lib/infra/aws/service-stack';
import { environmentSettings } from '../../lib/infra/aws/settings';
import { type Grants, QUEUES, type QueueName, type StageSpec } from '../../lib/infra/stages';

/**
 * The AWS app, read from the stage table: each assertion names the property that matters (encryption,
 * TLS-only, DLQs, IAM scope), not a snapshot. Stacks are built from cdk.json's own context, with asset
 * staging off so that no bundle is copied.
 */
export const ROOT = resolve(__dirname, '..', '..');
export const CDK_CONTEXT = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')).context as Record<
  string,
  unknown
>;

export function build(context: Record<string, unknown> = {}): ZapasStacks {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:disable-asset-staging': true, ...context } });
  return buildApp(app, ROOT);
}

/** A service stack of `stages` alone (a table variant), with a prebuilt agent image. */
export function serviceOf(stages: readonly StageSpec[], root = ROOT): ServiceStack {
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

export interface Templates {
  data: Template;
  service: Template;
  stacks: ZapasStacks;
}
export const cache = new Map<string, Templates>();
export function templates(env: 'dev' | 'prod'): Templates {
  let t = cache.get(env);
  if (!t) {
    const stacks = build({ env });
    t = { data: Template.fromStack(stacks.data), service: Template.fromStack(stacks.service), stacks };
    cache.set(env, t);
  }
  return t;
}

export type Resource = { Type: string; Properties: Record<string, unknown> } & Record<string, unknown>;
export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
}

export const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
export const mentions = (value: unknown, id: string) => JSON.stringify(value).includes(id);

/** The logical id of the one resource of `type` whose properties contain `props`. */
export function logicalId(template: Template, type: string, props: Record<string, unknown>): string {
  const found = Object.keys(template.findResources(type, { Properties: props }));
  if (found.length !== 1) throw new Error(`${found.length} ${type} match ${JSON.stringify(props)}`);
  return found[0]!;
}

export const functionId = (t: Template, stage: string) =>
  logicalId(t, 'AWS::Lambda::Function', { FunctionName: `zapas-dev-${stage}` });
export const queueId = (t: Template, name: string) =>
  logicalId(t, 'AWS::SQS::Queue', { QueueName: `zapas-dev-${name}` });

/** Every IAM statement attached to the role with logical id `roleId`. */
export function statementsOfRole(t: Template, roleId: string): Statement[] {
  const policies = Object.values(t.findResources('AWS::IAM::Policy')) as Resource[];
  return policies
    .filter((p) => mentions(p.Properties.Roles, roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

export function roleOfFunction(t: Template, stage: string): string {
  const fn = t.toJSON().Resources[functionId(t, stage)] as Resource;
  return (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

export function agentRole(t: Template): string {
  const td = Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0] as Resource;
  return (td.Properties.TaskRoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
}

export const statementsOf = (t: Template, stage: string) => statementsOfRole(t, roleOfFunction(t, stage));
export const allActions = (statements: Statement[]) => statements.flatMap(actionsOf);

/** The S3 actions a role has on objects or the bucket of `bucket` ('Repository' or 'Landing'). */
export function s3Actions(statements: Statement[], bucket: string): string[] {
  return statements
    .filter((s) => mentions(s.Resource, `ExportsOutputFnGetAtt${bucket}`))
    .flatMap(actionsOf)
    .filter((a) => a.startsWith('s3:'))
    .sort();
}

/** The queues (by table name, `<name>` or `<name>-dlq`) a role may send to. */
export function sendTargets(t: Template, statements: Statement[]): string[] {
  const names = QUEUES.flatMap((q) => [q.name, `${q.name}-dlq`]);
  return statements
    .filter((s) => actionsOf(s).includes('sqs:SendMessage'))
    .flatMap((s) => names.filter((n) => mentions(s.Resource, `"${queueId(t, n)}"`)))
    .sort();
}

export const EXPECTED_S3: Record<string, string[]> = {
  read: ['s3:GetObject'],
  write: ['s3:AbortMultipartUpload', 's3:PutObject'],
  delete: ['s3:DeleteObject'],
  list: ['s3:ListBucket'],
};
export const expectedS3 = (grants: Grants, bucket: 'repository' | 'landing') =>
  (grants.buckets[bucket] ?? []).flatMap((r) => EXPECTED_S3[r]!).sort();
export const triggerQueues = (stage: StageSpec) =>
  stage.triggers.flatMap((t): QueueName[] => (t.kind === 'queue' ? [t.queue] : []));
