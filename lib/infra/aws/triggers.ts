/**
 * A stage's triggers from the table, wired to its function: schedules as EventBridge rules (the cron
 * converted to EventBridge's form), queues as event source mappings that report partial batch failures,
 * landing objects as S3 notifications, HTTP as routes on the service's HTTP API (http-api.ts).
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { queueSpec, type StageSpec, type Trigger } from '../stages';
import { awsCron } from './cron';
import { DeploymentError } from './errors';
import type { ServiceApi } from './http-api';
import type { ServiceResources } from './resources';

/** A missed timer tick is retried briefly; the next tick does the same work anyway. */
const SCHEDULE_RETRIES = 2;
const SCHEDULE_MAX_EVENT_AGE = Duration.minutes(15);

export interface TriggerTargets {
  resources: ServiceResources;
  /** The HTTP API, made on first use. */
  httpApi: () => ServiceApi;
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
      acknowledgeNotificationsHandler(scope);
      return;
    case 'http':
      to.httpApi().route(id, fn);
      return;
  }
}

/**
 * The notification goes on a bucket of the data stack through aws-cdk-lib's BucketNotificationsHandler,
 * a singleton Lambda whose role (AWSLambdaBasicExecutionRole for its logs) the library makes and offers
 * no way to replace; it runs only while CloudFormation deploys the notification.
 */
function acknowledgeNotificationsHandler(scope: Construct): void {
  const handler = Stack.of(scope)
    .node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'))
    ?.node.tryFindChild('Role');
  if (!handler) return;
  NagSuppressions.addResourceSuppressions(handler, [
    {
      id: 'AwsSolutions-IAM4',
      reason:
        "aws-cdk-lib's bucket notifications handler: its role and its AWSLambdaBasicExecutionRole are the library's, it runs only while CloudFormation writes the landing bucket's notification",
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    },
  ]);
}
