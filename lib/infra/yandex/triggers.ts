/**
 * A stage's triggers as `yandex_function_trigger`s, acting as the stage's trigger account: timers (cron
 * converted to Yandex's six fields), Message Queue (the whole batch returns to the queue when the function
 * fails: there is no per-message failure report, so handlers settle each message themselves), and Object
 * Storage (create events under a prefix; undeliverable events go to the stage's dead-letter queue after
 * retries). HTTP triggers are the API gateway's (gateway.ts).
 */
import { resourceName, type StageSpec, type Trigger } from '../stages';
import { toYandexCron } from './cron';
import { DeploymentError } from './errors';
import { TRIGGER_BATCH_LIMIT } from './limits';
import { dlqLabel, PREFIX, REF, TYPE, triggerAccount } from './resources';
import { label, type TerraformDocument, type TfBlock } from './terraform-json';

/** A queue trigger waits at most this long to fill its batch: latency against invocations. */
export const BATCH_CUTOFF_SECONDS = 5;
/** An Object Storage event is retried this often, this far apart, before it goes to the dead-letter queue. */
export const BUCKET_EVENT_RETRIES = 3;
export const BUCKET_EVENT_RETRY_INTERVAL_SECONDS = 10;
/** An Object Storage trigger hands over one event at a time: each names one landed object. */
const BUCKET_EVENT_BATCH = 1;

/** Adds the stage's timer, queue and bucket triggers. */
export function addTriggers(doc: TerraformDocument, stage: StageSpec): void {
  const account = REF.accountId(triggerAccount(stage.name));
  const fn = { id: REF.functionId(stage.name), service_account_id: account };
  const deadLetters = stage.triggers.find((t) => t.kind === 'queue');
  let timers = 0;
  for (const trigger of stage.triggers) {
    const add = (kind: string, body: TfBlock) =>
      doc.resource(TYPE.trigger, label(stage.name, kind), {
        name: resourceName(PREFIX, `${stage.name}-${kind.replace(/_/g, '-')}`),
        description: `zapas ${stage.name}: ${describe(trigger)}`,
        ...body,
      });
    switch (trigger.kind) {
      case 'schedule':
        timers += 1;
        add(timers === 1 ? 'timer' : `timer_${timers}`, {
          timer: { cron_expression: toYandexCron(trigger.cron) },
          function: fn,
        });
        break;
      case 'queue':
        if (trigger.batchSize < 1 || trigger.batchSize > TRIGGER_BATCH_LIMIT)
          throw new DeploymentError(
            `${stage.name}: batch size ${trigger.batchSize} is outside a Message Queue trigger's 1–${TRIGGER_BATCH_LIMIT}`,
          );
        add(`queue_${trigger.queue}`, {
          message_queue: {
            queue_id: REF.queueArn(trigger.queue),
            service_account_id: account,
            batch_size: String(trigger.batchSize),
            batch_cutoff: String(BATCH_CUTOFF_SECONDS),
          },
          function: fn,
        });
        break;
      case 'bucket':
        add(`bucket_${trigger.bucket}`, {
          object_storage: {
            bucket_id: REF.bucketName(trigger.bucket),
            prefix: trigger.prefix,
            create: true,
            batch_size: String(BUCKET_EVENT_BATCH),
            batch_cutoff: String(BATCH_CUTOFF_SECONDS),
          },
          function: {
            ...fn,
            retry_attempts: String(BUCKET_EVENT_RETRIES),
            retry_interval: String(BUCKET_EVENT_RETRY_INTERVAL_SECONDS),
          },
          ...(deadLetters?.kind === 'queue'
            ? { dlq: { queue_id: REF.queueArn(dlqLabel(deadLetters.queue)), service_account_id: account } }
            : {}),
        });
        break;
      case 'http':
        break;
    }
  }
}

function describe(t: Trigger): string {
  switch (t.kind) {
    case 'schedule':
      return `timer ${t.cron} (UTC)`;
    case 'queue':
      return `queue ${t.queue}, ${t.batchSize} a batch`;
    case 'bucket':
      return `new objects in ${t.bucket}/${t.prefix}`;
    case 'http':
      return 'HTTP';
  }
}
