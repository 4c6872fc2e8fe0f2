import { spawn } from 'node:child_process';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type SqsProtocol, sqsClient } from '../../lib/pipeline/queues/sqs-queue';
import { freePort } from './postgres';

export interface SqsServer {
  protocol: SqsProtocol;
  endpoint: string;
  client: SQSClient;
  /** Creates a queue (with a dead-letter queue after `maxReceives`, when given); returns its URL. */
  createQueue(
    name: string,
    opts?: { visibilitySeconds?: number; deadLetterUrl?: string; maxReceives?: number },
  ): Promise<string>;
  stop(): Promise<void>;
}

/** fauxqs's command (its package exports no CommonJS entry to resolve from). */
const FAUXQS_CLI = join(__dirname, '..', '..', 'node_modules', 'fauxqs', 'dist', 'cli.js');

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * An SQS-compatible server on loopback: fauxqs for the JSON protocol (the SDK's default, AWS), or
 * local-aws-sqs for the query protocol (what Yandex Message Queue speaks).
 */
export async function startSqsServer(protocol: SqsProtocol): Promise<SqsServer> {
  let endpoint: string;
  let stop: () => Promise<void>;
  if (protocol === 'json') {
    // fauxqs is ESM only (jest runs CommonJS): it runs as its own process, as it would beside a service.
    const port = await freePort();
    const child = spawn(process.execPath, [FAUXQS_CLI], {
      env: { PATH: process.env.PATH, FAUXQS_PORT: String(port), FAUXQS_LOGGER: 'false' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    endpoint = `http://127.0.0.1:${port}`;
    await untilListening(port, () => `fauxqs did not start: ${stderr}`);
    stop = async () => {
      child.kill();
      await new Promise((resolve) => child.once('exit', resolve));
    };
  } else {
    const { createSqsServer } = await import('local-aws-sqs');
    const server = await createSqsServer({
      port: 0,
      hostname: '127.0.0.1',
      emulateQueueCreationLifecycle: false,
    });
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stop = () => new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const client = sqsClient({
    endpoint,
    region: 'us-east-1',
    credentials: CREDENTIALS,
    protocol,
    maxAttempts: 1,
  });
  return {
    protocol,
    endpoint,
    client,
    async createQueue(name, opts = {}) {
      const attributes: Record<string, string> = {};
      if (opts.visibilitySeconds !== undefined) attributes.VisibilityTimeout = String(opts.visibilitySeconds);
      if (opts.deadLetterUrl) {
        const dlq = await client.send(
          new GetQueueAttributesCommand({ QueueUrl: opts.deadLetterUrl, AttributeNames: ['QueueArn'] }),
        );
        attributes.RedrivePolicy = JSON.stringify({
          deadLetterTargetArn: dlq.Attributes!.QueueArn,
          maxReceiveCount: opts.maxReceives ?? 3,
        });
      }
      const r = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
      return r.QueueUrl!;
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}

/** Waits until something accepts connections on the loopback port. */
async function untilListening(port: number, why: () => string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(why());
    await new Promise((r) => setTimeout(r, 100));
  }
}
