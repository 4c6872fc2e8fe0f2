/**
 * The Message Queue queues of the stage table, each with its dead-letter queue: after `maxReceives`
 * failed deliveries a message is redriven there (`RedrivePolicy`, the same JSON as SQS's). Standard queues
 * only: triggers do not take FIFO ones. Checked against Message Queue's limits, so a table that exceeds
 * them fails here and not halfway through `terraform apply`.
 */
import { type QueueSpec, resourceName } from '../stages';
import { DeploymentError } from './errors';
import {
  QUEUE_RETENTION_LIMIT_SECONDS,
  QUEUE_RETENTION_MIN_SECONDS,
  QUEUE_VISIBILITY_LIMIT_SECONDS,
  SECONDS_PER_DAY,
  YANDEX_REGION,
} from './limits';
import { dlqLabel, PREFIX, REF, TYPE } from './resources';
import type { TerraformDocument } from './terraform-json';

/** The redrive policy of a queue: JSON with the dead-letter queue's ARN interpolated by Terraform. */
export function redrivePolicy(queue: QueueSpec): string {
  return JSON.stringify({
    deadLetterTargetArn: REF.queueArn(dlqLabel(queue.name)),
    maxReceiveCount: queue.maxReceives,
  });
}

export function addQueues(doc: TerraformDocument, queues: readonly QueueSpec[]): void {
  for (const queue of queues) {
    const retention = queue.retentionDays * SECONDS_PER_DAY;
    if (retention < QUEUE_RETENTION_MIN_SECONDS || retention > QUEUE_RETENTION_LIMIT_SECONDS)
      throw new DeploymentError(
        `queue ${queue.name}: retention ${queue.retentionDays} days is outside Message Queue's 1 minute to 14 days`,
      );
    if (queue.visibilitySeconds > QUEUE_VISIBILITY_LIMIT_SECONDS)
      throw new DeploymentError(
        `queue ${queue.name}: visibility ${queue.visibilitySeconds} s is over Message Queue's 12 hours`,
      );
    doc.resource(TYPE.queue, dlqLabel(queue.name), {
      name: resourceName(PREFIX, `${queue.name}-dlq`),
      region_id: YANDEX_REGION,
      message_retention_seconds: retention,
    });
    doc.resource(TYPE.queue, queue.name, {
      name: resourceName(PREFIX, queue.name),
      region_id: YANDEX_REGION,
      visibility_timeout_seconds: queue.visibilitySeconds,
      message_retention_seconds: retention,
      redrive_policy: redrivePolicy(queue),
    });
  }
}
