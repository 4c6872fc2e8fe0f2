/**
 * The table's queues, each with its dead-letter queue: SSE (SQS-managed keys: messages carry ids and
 * byte ranges, never backup data), TLS-only policies, visibility and retention from the table.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { type QueueName, type QueueSpec, resourceName } from '../stages';
import { constructId } from './construct-id';
import type { QueuePair } from './resources';
import type { EnvironmentSettings } from './settings';

/**
 * SQS's longest retention. A dead letter keeps its original enqueue time, so a DLQ that kept messages no
 * longer than its source would drop them on arrival
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
 */
const DLQ_RETENTION = Duration.days(14);

function queue(scope: Construct, id: string, props: sqs.QueueProps): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    removalPolicy: RemovalPolicy.DESTROY,
    ...props,
  });
}

/** A queue and its DLQ for each of `specs`, by name. */
export function stageQueues(
  scope: Construct,
  specs: readonly QueueSpec[],
  settings: EnvironmentSettings,
): Record<QueueName, QueuePair> {
  const pairs: Partial<Record<QueueName, QueuePair>> = {};
  for (const spec of specs) {
    const id = constructId(spec.name);
    const dlq = queue(scope, `${id}Dlq`, {
      queueName: resourceName(settings.prefix, `${spec.name}-dlq`),
      retentionPeriod: DLQ_RETENTION,
    });
    const main = queue(scope, `${id}Queue`, {
      queueName: resourceName(settings.prefix, spec.name),
      visibilityTimeout: Duration.seconds(spec.visibilitySeconds),
      retentionPeriod: Duration.days(spec.retentionDays),
      deadLetterQueue: { queue: dlq, maxReceiveCount: spec.maxReceives },
    });
    pairs[spec.name] = { queue: main, dlq };
  }
  return pairs as Record<QueueName, QueuePair>;
}
