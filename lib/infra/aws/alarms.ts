/**
 * What wakes an operator: a message in any dead-letter queue, and any failed job. Failed jobs are counted
 * by a metric filter on every function's and the agent's log group, matching the structured log line
 * `{"event":"job-failed", …}` that a part writes when it gives a job up; the count is the metric
 * `JobsFailed` in the namespace `zapas/<environment>`. Both alarms publish to one SNS topic.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { type QueueName, resourceName } from '../stages';
import type { QueuePair } from './resources';
import type { EnvironmentSettings } from './settings';

export const JOBS_FAILED_METRIC = 'JobsFailed';
/** The log field and value of a failed job (the line is one JSON object written to stdout). */
export const JOB_FAILED_EVENT = { field: '$.event', value: 'job-failed' } as const;
const ALARM_PERIOD = Duration.minutes(5);

export function metricNamespace(settings: EnvironmentSettings): string {
  return `zapas/${settings.name}`;
}

export interface AlarmsProps {
  settings: EnvironmentSettings;
  queues: Record<QueueName, QueuePair>;
  /** The log groups whose job failures count. */
  logGroups: logs.ILogGroup[];
}

export class Alarms extends Construct {
  readonly topic: sns.Topic;

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const { settings } = props;
    // Not KMS-encrypted: CloudWatch alarms cannot publish to a topic under an AWS-managed key, and the
    // notifications carry alarm names only.
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: resourceName(settings.prefix, 'alarms'),
      enforceSSL: true,
    });
    if (settings.alarmEmail)
      this.topic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    const notify = new actions.SnsAction(this.topic);

    for (const [name, { dlq }] of Object.entries(props.queues)) {
      const alarm = new cloudwatch.Alarm(this, `${name}-dlq`, {
        alarmName: resourceName(settings.prefix, `${name}-dlq-not-empty`),
        alarmDescription: `dead letters in ${resourceName(settings.prefix, `${name}-dlq`)}: read their reason, fix, redrive`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({ period: ALARM_PERIOD, statistic: 'Maximum' }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(notify);
    }

    const namespace = metricNamespace(settings);
    props.logGroups.forEach((logGroup, i) => {
      new logs.MetricFilter(this, `JobsFailed${i}`, {
        logGroup,
        filterPattern: logs.FilterPattern.stringValue(JOB_FAILED_EVENT.field, '=', JOB_FAILED_EVENT.value),
        metricNamespace: namespace,
        metricName: JOBS_FAILED_METRIC,
        metricValue: '1',
      });
    });
    const failed = new cloudwatch.Alarm(this, 'JobsFailed', {
      alarmName: resourceName(settings.prefix, 'jobs-failed'),
      alarmDescription: 'a backup, verify or purge job failed: see the job in the catalog and the logs',
      metric: new cloudwatch.Metric({
        namespace,
        metricName: JOBS_FAILED_METRIC,
        statistic: 'Sum',
        period: ALARM_PERIOD,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    failed.addAlarmAction(notify);
  }
}
