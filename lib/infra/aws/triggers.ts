/**
 * A stage's triggers from the table, wired to its function: schedules as EventBridge rules (the cron
 * converted to EventBridge's form), queues as event source mappings that report partial batch failures,
 * landing objects as S3 notifications, HTTP as routes on the service's HTTP API.
 */
import { Duration } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type { Construct } from 'constructs';
import { queueSpec, type StageSpec, type Trigger } from '../stages';
import { awsCron } from './cron';
import { DeploymentError } from './errors';
import type { ServiceResources } from './resources';

/** The API's routes: everything under /v1 goes to the stage (lib/api routes it further). */
export const API_ROUTE = '/v1/{proxy+}';
/** A missed timer tick is retried briefly; the next tick does the same work anyway. */
const SCHEDULE_RETRIES = 2;
const SCHEDULE_MAX_EVENT_AGE = Duration.minutes(15);

export interface TriggerTargets {
  resources: ServiceResources;
  /** The HTTP API, made on first use. */
  httpApi: () => apigw.HttpApi;
}

/** Connects every trigger of `stage` to `fn`. */
export function connectTriggers(
  scope: Construct,
  stage: StageSpec,
  fn: lambda.Function,
  to: TriggerTargets,
): void {
  stage.triggers.forEach((trigger, i) => {
    connect(scope, `${stage.name}-${trigger.kind}-${i}`, stage, trigger, fn, to);
  });
}

function connect(
  scope: Construct,
  id: string,
  stage: StageSpec,
  trigger: Trigger,
  fn: lambda.Function,
  to: TriggerTargets,
): void {
  switch (trigger.kind) {
    case 'schedule':
      new events.Rule(scope, id, {
        description: `${stage.name}: ${trigger.cron} (UTC)`,
        schedule: events.Schedule.expression(awsCron(trigger.cron)),
        targets: [
          new targets.LambdaFunction(fn, {
            retryAttempts: SCHEDULE_RETRIES,
            maxEventAge: SCHEDULE_MAX_EVENT_AGE,
          }),
        ],
      });
      return;
    case 'queue': {
      const spec = queueSpec(trigger.queue);
      // Lambda refuses a mapping whose queue would hand a message out again while it is still running.
      if (spec.visibilitySeconds < stage.timeoutSeconds)
        throw new DeploymentError(
          `queue ${spec.name}: visibility ${spec.visibilitySeconds} s is shorter than ${stage.name}'s timeout ${stage.timeoutSeconds} s`,
        );
      fn.addEventSource(
        new SqsEventSource(to.resources.queues[trigger.queue].queue, {
          batchSize: trigger.batchSize,
          reportBatchItemFailures: true,
        }),
      );
      return;
    }
    case 'bucket':
      to.resources.buckets[trigger.bucket].addEventNotification(
        s3.EventType.OBJECT_CREATED,
        new s3n.LambdaDestination(fn),
        { prefix: trigger.prefix },
      );
      return;
    case 'http':
      to.httpApi().addRoutes({
        path: API_ROUTE,
        methods: [apigw.HttpMethod.ANY],
        integration: new HttpLambdaIntegration(id, fn),
      });
      return;
  }
}
