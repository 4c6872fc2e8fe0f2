import { randomUUID } from 'node:crypto';
import { LocalQueue } from '../../lib/pipeline/queues/local-queue';
import {
  deadLetter,
  MAX_MESSAGE_BYTES,
  type Queue,
  QueueMessageError,
} from '../../lib/pipeline/queues/queue';
import { protocolFor, SqsQueue, YANDEX_MQ_ENDPOINT } from '../../lib/pipeline/queues/sqs-queue';
import { type SqsServer, startSqsServer } from '../support/sqs-servers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Maker {
  /** A queue with a `visibility` timeout and, when asked, a dead-letter queue (after 2 receives, with `redrive`). */
  make(withDlq?: boolean): Promise<{ queue: Queue; dlq?: Queue }>;
  /**
   * local-aws-sqs moves a message to its DLQ one receive early, and a long poll longer than the
   * visibility timeout returns one message several times: its redrive is not tested, and its visibility
   * is longer than the polls. Real SQS and Message Queue do neither.
   */
  redrive: boolean;
  visibility: number;
}

const servers: SqsServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

function onServer(protocol: 'json' | 'query', redrive: boolean, visibility: number): Maker {
  let server: SqsServer | undefined;
  return {
    redrive,
    visibility,
    async make(withDlq = false) {
      if (!server) {
        server = await startSqsServer(protocol);
        servers.push(server);
      }
      const id = randomUUID().slice(0, 8);
      const dlqUrl = withDlq ? await server.createQueue(`dlq-${id}`) : undefined;
      const url = await server.createQueue(`q-${id}`, {
        visibilitySeconds: visibility,
        ...(dlqUrl && redrive ? { deadLetterUrl: dlqUrl, maxReceives: 2 } : {}),
      });
      return {
        queue: new SqsQueue(server.client, url),
        ...(dlqUrl ? { dlq: new SqsQueue(server.client, dlqUrl) } : {}),
      };
    },
  };
}

const local: Maker = {
  redrive: true,
  visibility: 1,
  async make(withDlq = false) {
    const dlq = withDlq ? new LocalQueue('dlq') : undefined;
    const queue = new LocalQueue('q', {
      visibilitySeconds: 1,
      ...(dlq ? { deadLetter: dlq, maxReceives: 2 } : {}),
    });
    return { queue, ...(dlq ? { dlq } : {}) };
  },
};

/** One contract for every adapter: SQS JSON protocol (fauxqs), query protocol (local-aws-sqs), embedded. */
describe.each([
  ['SQS JSON protocol (fauxqs on loopback)', onServer('json', true, 1)],
  [
    'SQS query protocol, as Yandex Message Queue speaks (local-aws-sqs on loopback)',
    onServer('query', false, 3),
  ],
  ['embedded', local],
] as const)('queue contract: %s', (_name, maker) => {
  it('delivers a JSON body with its attributes, and a deleted message never comes back', async () => {
    const { queue } = await maker.make();
    const body = JSON.stringify({ type: 'backup-now', source: 'saves', note: 'кириллица "quoted"' });
    const id = await queue.send(body, { attributes: { trace: 't-1' } });
    const [m] = await queue.receive({ waitSeconds: 2 });
    expect(m).toMatchObject({ id, body, receiveCount: 1, attributes: { trace: 't-1' } });
    await queue.delete(m!.receipt);
    await sleep(maker.visibility * 1000 + 200);
    expect(await queue.receive({ waitSeconds: 1 })).toEqual([]);
  });

  it('a message not deleted within its visibility timeout is delivered again, counted', async () => {
    const { queue } = await maker.make();
    await queue.send('{"n":1}');
    const first = await queue.receive({ waitSeconds: 1 });
    expect(first.map((m) => m.receiveCount)).toEqual([1]);
    expect(await queue.receive()).toEqual([]); // in flight: invisible
    await sleep(maker.visibility * 1000 + 300);
    const again = await queue.receive({ waitSeconds: 1 });
    expect(again.map((m) => [m.body, m.receiveCount])).toEqual([['{"n":1}', 2]]);
    await queue.changeVisibility(again[0]!.receipt, 0);
    const third = await queue.receive(); // visible at once
    expect(third.map((m) => m.body)).toEqual(['{"n":1}']);
    // local-aws-sqs counts a receive twice here: it proves the query protocol's wire format, not SQS's counts.
    if (maker.redrive) expect(third[0]!.receiveCount).toBe(3);
    else expect(third[0]!.receiveCount).toBeGreaterThan(2);
  });

  it('refuses a message over 256 KiB, or empty, before sending it', async () => {
    const { queue } = await maker.make();
    await expect(queue.send('x'.repeat(MAX_MESSAGE_BYTES + 1))).rejects.toThrow(QueueMessageError);
    await expect(queue.send('x'.repeat(MAX_MESSAGE_BYTES + 1))).rejects.toThrow(
      /over the 262144-byte limit.*landing bucket/,
    );
    await expect(queue.send('')).rejects.toThrow(/cannot be empty/);
  });

  it('a poison message goes to the dead-letter queue with its reason, and is not retried', async () => {
    const { queue, dlq } = await maker.make(true);
    await queue.send('{"type":"nonsense"}', { attributes: { trace: 't-9' } });
    const [m] = await queue.receive({ waitSeconds: 2 });
    await deadLetter(queue, dlq!, m!, 'type: expected backup-now | export-ready');
    const [dead] = await dlq!.receive({ waitSeconds: 1 });
    expect(dead!.body).toBe('{"type":"nonsense"}');
    expect(dead!.attributes).toMatchObject({
      trace: 't-9',
      'zapas-reason': 'type: expected backup-now | export-ready',
      'zapas-receive-count': '1',
    });
    await sleep(maker.visibility * 1000 + 200);
    expect(await queue.receive({ waitSeconds: 1 })).toEqual([]);
  });

  (maker.redrive ? it : it.skip)(
    'a message that keeps failing moves to the dead-letter queue after maxReceives',
    async () => {
      const { queue, dlq } = await maker.make(true);
      await queue.send('{"type":"backup-now","source":"x"}');
      const counts: number[] = [];
      for (let i = 0; i < 4; i++) {
        for (const m of await queue.receive({ waitSeconds: 1 })) counts.push(m.receiveCount);
        await sleep(1200);
      }
      expect(counts).toEqual([1, 2]);
      expect((await dlq!.receive({ waitSeconds: 2 })).map((m) => m.body)).toEqual([
        '{"type":"backup-now","source":"x"}',
      ]);
    },
  );
});

describe('protocol choice', () => {
  it('the query client really speaks the query protocol (form-encoded requests, XML answers parsed)', async () => {
    const server = await startSqsServer('query');
    servers.push(server);
    const types: string[] = [];
    server.client.middlewareStack.add(
      (next) => async (args) => {
        types.push(String((args.request as { headers: Record<string, string> }).headers['content-type']));
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordContentType' },
    );
    const queue = new SqsQueue(server.client, await server.createQueue(`wire-${randomUUID().slice(0, 8)}`));
    await queue.send('{"type":"export-ready","at":"s3://landing/x"}', { attributes: { a: '1' } });
    const [m] = await queue.receive({ waitSeconds: 1 });
    expect(m).toMatchObject({
      body: '{"type":"export-ready","at":"s3://landing/x"}',
      attributes: { a: '1' },
    });
    await queue.delete(m!.receipt);
    expect(types.length).toBeGreaterThanOrEqual(4);
    expect(new Set(types)).toEqual(new Set(['application/x-www-form-urlencoded']));
  });

  it('Yandex Message Queue gets the query protocol, everything else JSON', () => {
    expect(protocolFor(YANDEX_MQ_ENDPOINT)).toBe('query');
    expect(protocolFor('https://message-queue.api.cloud.yandex.net/b1g/dj6/queue')).toBe('query');
    expect(protocolFor('https://sqs.eu-central-1.amazonaws.com')).toBe('json');
    expect(protocolFor(undefined)).toBe('json');
  });
});
