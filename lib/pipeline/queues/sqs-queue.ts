/**
 * The Queue port on AWS SQS or Yandex Message Queue. Message Queue speaks only SQS's query protocol
 * (form-encoded requests, XML answers); the current SDK speaks JSON to SQS by default. The SDK's protocol
 * is pluggable, so one client version serves both: `protocol: 'query'` (the default for Yandex's
 * endpoint) swaps in the AWS query protocol; AWS SQS accepts both.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { AwsQueryProtocol } from '@aws-sdk/core/protocols';
import {
  checkMessage,
  MAX_RECEIVE,
  MAX_WAIT_SECONDS,
  type Queue,
  type QueueMessage,
  type ReceiveOptions,
  type SendOptions,
} from './queue';

export type SqsProtocol = 'json' | 'query';

/** Yandex Message Queue's endpoint: query protocol only. */
export const YANDEX_MQ_ENDPOINT = 'https://message-queue.api.cloud.yandex.net';

/** The protocol an endpoint needs: query for Yandex Message Queue, JSON (the SDK's default) elsewhere. */
export function protocolFor(endpoint: string | undefined): SqsProtocol {
  return endpoint && new URL(endpoint).hostname === new URL(YANDEX_MQ_ENDPOINT).hostname ? 'query' : 'json';
}

/** An SQS client speaking `protocol`. */
export function sqsClient(config: Omit<SQSClientConfig, 'protocol'> & { protocol?: SqsProtocol }): SQSClient {
  const { protocol, ...rest } = config;
  const endpoint = typeof rest.endpoint === 'string' ? rest.endpoint : undefined;
  if ((protocol ?? protocolFor(endpoint)) === 'json') return new SQSClient(rest);
  return new SQSClient({
    ...rest,
    protocol: AwsQueryProtocol,
    protocolSettings: {
      defaultNamespace: 'com.amazonaws.sqs',
      xmlNamespace: 'http://queue.amazonaws.com/doc/2012-11-05/',
      version: '2012-11-05',
    },
  } as SQSClientConfig);
}

export class SqsQueue implements Queue {
  constructor(
    private readonly client: SQSClient,
    readonly url: string,
    readonly name = url.slice(url.lastIndexOf('/') + 1),
  ) {}

  async send(body: string, opts: SendOptions = {}): Promise<string> {
    checkMessage(this.name, body, opts);
    const r = await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.url,
        MessageBody: body,
        ...(opts.delaySeconds !== undefined ? { DelaySeconds: opts.delaySeconds } : {}),
        ...(opts.attributes ? { MessageAttributes: toAttributes(opts.attributes) } : {}),
      }),
    );
    return r.MessageId!;
  }

  async receive(opts: ReceiveOptions = {}): Promise<QueueMessage[]> {
    const r = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: this.url,
        MaxNumberOfMessages: Math.min(opts.max ?? MAX_RECEIVE, MAX_RECEIVE),
        WaitTimeSeconds: Math.min(opts.waitSeconds ?? 0, MAX_WAIT_SECONDS),
        ...(opts.visibilitySeconds !== undefined ? { VisibilityTimeout: opts.visibilitySeconds } : {}),
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    return (r.Messages ?? []).map((m) => ({
      id: m.MessageId!,
      body: m.Body ?? '',
      receipt: m.ReceiptHandle!,
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
      attributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).flatMap(([k, v]) =>
          v.StringValue !== undefined ? [[k, v.StringValue]] : [],
        ),
      ),
    }));
  }

  async delete(receipt: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receipt }));
  }

  async changeVisibility(receipt: string, seconds: number): Promise<void> {
    await this.client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: this.url,
        ReceiptHandle: receipt,
        VisibilityTimeout: seconds,
      }),
    );
  }
}

function toAttributes(attributes: Record<string, string>): Record<string, MessageAttributeValue> {
  return Object.fromEntries(
    Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]),
  );
}
