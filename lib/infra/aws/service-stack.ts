/**
 * The service stack: the stage table made real — queues with DLQs, one function per stage with its
 * triggers, grants and environment, the HTTP API, the agent task, and the alarms. Stateful resources are
 * the data stack's; they are referred to here, and the landing bucket by an imported reference, so that
 * its notification to orchestrate lives in this stack (no reference cycle between the two).
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { AGENT, QUEUES, type QueueName, STAGES, type StageSpec } from '../stages';
import { AgentTask } from './agent-task';
import { Alarms } from './alarms';
import { constructId } from './construct-id';
import type { DataStack } from './data-stack';
import { partEnvironment } from './environment';
import { applyGrants } from './grants';
import { ServiceApi } from './http-api';
import { reservedConcurrency } from './reserved-concurrency';
import type { ServiceResources } from './resources';
import type { EnvironmentSettings } from './settings';
import { StageFunction } from './stage-function';
import { stageQueues } from './stage-queues';
import { connectTriggers } from './triggers';

export interface ServiceStackProps extends StackProps {
  settings: EnvironmentSettings;
  data: DataStack;
  /** The validated configuration as JSON text. */
  configJson: string;
  agentImage: ecs.ContainerImage;
  /** The repository root: function bundles are under dist/functions/. */
  root: string;
  /** The stages to deploy (the table's, unless a test narrows them). */
  stages?: readonly StageSpec[];
}

export class ServiceStack extends Stack {
  readonly functions: Record<string, StageFunction> = {};
  readonly agent: AgentTask;
  readonly alarms: Alarms;
  httpApi?: ServiceApi;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { settings, data } = props;
    this.agent = new AgentTask(this, 'Agent', { settings, image: props.agentImage });
    const resources: ServiceResources = {
      buckets: {
        repository: s3.Bucket.fromBucketAttributes(this, 'Repository', {
          bucketArn: data.repository.bucketArn,
          bucketName: data.repository.bucketName,
        }),
        landing: s3.Bucket.fromBucketAttributes(this, 'Landing', {
          bucketArn: data.landing.bucketArn,
          bucketName: data.landing.bucketName,
        }),
      },
      key: data.key,
      catalog: data.catalog,
      password: data.password,
      queues: stageQueues(this, QUEUES, settings),
      agent: this.agent,
      configJson: props.configJson,
    };

    const httpApi = () => {
      this.httpApi ??= new ServiceApi(this, 'HttpApi', settings);
      return this.httpApi;
    };
    const stages = props.stages ?? STAGES;
    const reserved = reservedConcurrency(stages, settings);
    for (const stage of stages) {
      const consumes = stage.triggers.flatMap((t): QueueName[] => (t.kind === 'queue' ? [t.queue] : []));
      const part = new StageFunction(this, constructId(stage.name), {
        stage,
        root: props.root,
        settings,
        environment: partEnvironment(stage.grants, resources, consumes),
        reservedConcurrency: reserved[stage.name],
      });
      applyGrants(part.fn, stage.grants, resources, consumes);
      connectTriggers(this, stage, part.fn, { resources, httpApi });
      this.functions[stage.name] = part;
    }
    this.agent.setEnvironment(partEnvironment(AGENT.grants, resources));
    applyGrants(this.agent.taskDefinition.taskRole, AGENT.grants, resources);

    const logGroups: logs.ILogGroup[] = [
      ...Object.values(this.functions).map((f) => f.logGroup),
      this.agent.logGroup,
    ];
    this.alarms = new Alarms(this, 'Alarms', { settings, queues: resources.queues, logGroups });

    if (this.httpApi) new CfnOutput(this, 'ApiUrl', { value: this.httpApi.api.apiEndpoint });
    new CfnOutput(this, 'AlarmTopic', { value: this.alarms.topic.topicArn });
    // No stage consumes the security alerts: the platform's Notification Service reads them from here.
    new CfnOutput(this, 'AlertsQueueUrl', { value: resources.queues.alerts.queue.queueUrl });
  }
}
