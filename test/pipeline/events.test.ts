import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchFailedError,
  normalizeEvent,
  shapeResult,
  UnknownEventError,
} from '../../lib/pipeline/events/normalize';

/**
 * Sample events of both clouds, shaped as their documentation shows them (AWS Lambda's sample events;
 * Yandex Cloud Functions' trigger pages and @yandex-cloud/function-types).
 */
const fixture = (cloud: 'aws' | 'yandex', name: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'events', cloud, `${name}.json`), 'utf8'));

describe('event normalisation', () => {
  it('schedules: an EventBridge rule and a Yandex timer', () => {
    expect(normalizeEvent(fixture('aws', 'eventbridge-schedule'))).toEqual({
      kind: 'schedule',
      cloud: 'aws',
      id: '53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa',
      time: '2026-12-02T23:00:00Z',
      trigger: 'arn:aws:events:eu-central-1:123456789012:rule/zapas-payments-0200',
    });
    expect(normalizeEvent(fixture('yandex', 'timer'))).toEqual({
      kind: 'schedule',
      cloud: 'yandex',
      id: 'a1s41g2n5g0o5p3hqhlp',
      time: '2026-12-02T23:00:00.000Z',
      trigger: 'a1sfe084v4se4morbu2i',
      payload: '{"source":"payments","schedule":"0 2 * * *"}',
    });
  });

  it('queue batches: SQS and Message Queue, with receive counts and string attributes', () => {
    const aws = normalizeEvent(fixture('aws', 'sqs-batch'));
    expect(aws).toEqual({
      kind: 'messages',
      cloud: 'aws',
      messages: [
        {
          id: '059f36b4-87a3-44ab-83d2-661975830a7d',
          body: '{"type":"backup-now","source":"payments"}',
          queue: 'arn:aws:sqs:eu-central-1:123456789012:zapas-orchestrate',
          receiveCount: 1,
          attributes: { trace: 't-42' },
        },
        expect.objectContaining({
          id: '2e1424d4-f796-459a-8184-9c92662be6da',
          receiveCount: 3,
          attributes: {},
        }),
      ],
    });
    expect(normalizeEvent(fixture('yandex', 'message-queue'))).toEqual({
      kind: 'messages',
      cloud: 'yandex',
      messages: [
        {
          id: 'cce76685-5828-4304-a83d-95643c0507a0',
          body: '{"type":"backup-now","source":"saves"}',
          queue: 'yrn:yc:ymq:ru-central1:b1g88tflru0ek1omtsu0:zapas-orchestrate',
          receiveCount: 2,
          attributes: { trace: 't-7' },
        },
      ],
    });
  });

  it('objects: an S3 notification (key URL-decoded) and Object Storage triggers (create and delete)', () => {
    expect(normalizeEvent(fixture('aws', 's3-put'))).toEqual({
      kind: 'objects',
      cloud: 'aws',
      records: [
        {
          bucket: 'zapas-landing',
          key: 'catalogue/export 2026-12-02+1.ndjson',
          event: 'created',
          size: 1024,
          etag: '0123456789abcdef0123456789abcdef',
        },
      ],
    });
    expect(normalizeEvent(fixture('yandex', 'object-storage'))).toEqual({
      kind: 'objects',
      cloud: 'yandex',
      records: [
        { bucket: 'zapas-landing', key: 'catalogue/export 2026-12-02.ndjson', event: 'created' },
        { bucket: 'zapas-landing', key: 'catalogue/old.ndjson', event: 'deleted' },
      ],
    });
  });

  it('HTTP: API Gateway v2 (base64 body) and a Yandex HTTP call (payload 1.0), headers lower-cased', () => {
    expect(normalizeEvent(fixture('aws', 'http-api-v2'))).toEqual({
      kind: 'http',
      cloud: 'aws',
      method: 'POST',
      path: '/v1/sources/payments/backups',
      headers: { 'content-type': 'application/json', 'x-request-id': 'r-1', authorization: 'Bearer token' },
      query: { type: 'full', wait: 'false' },
      body: '{"reason":"before migration"}',
      requestId: 'JKJaXmPLvHcESHA=',
    });
    expect(normalizeEvent(fixture('yandex', 'http'))).toEqual({
      kind: 'http',
      cloud: 'yandex',
      method: 'POST',
      path: '/v1/sources/payments/backups',
      headers: {
        'content-type': 'application/json',
        'x-request-id': 'r-2',
        accept: 'application/json, text/plain',
      },
      query: { type: 'incr' },
      body: '{"reason":"before migration"}',
      requestId: '0f61048c-2ba9-4ad6-a8e2-ec5c3a3e8f61',
    });
  });

  it('an unknown or malformed event is named, never guessed', () => {
    expect(() => normalizeEvent({ hello: 'world' })).toThrow(/not an event zapas knows \(keys: hello\)/);
    expect(() => normalizeEvent('text')).toThrow(UnknownEventError);
    const broken = fixture('aws', 'sqs-batch') as { Records: Record<string, unknown>[] };
    delete broken.Records[0]!.body;
    expect(() => normalizeEvent(broken)).toThrow(/malformed SQS batch: Records\.0\.body/);
    expect(() =>
      normalizeEvent({
        messages: [{ event_metadata: { event_type: 'yandex.cloud.events.iot.IoTMessage' } }],
      }),
    ).toThrow(/event_type yandex\.cloud\.events\.iot\.IoTMessage/);
  });

  it('answers: partial batch failures on AWS; on Yandex a failed batch fails the invocation', () => {
    expect(shapeResult('aws', { kind: 'messages', failed: ['m2'] })).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm2' }],
    });
    expect(shapeResult('aws', { kind: 'messages', failed: [] })).toEqual({ batchItemFailures: [] });
    expect(() => shapeResult('yandex', { kind: 'messages', failed: ['m2'] })).toThrow(BatchFailedError);
    expect(shapeResult('yandex', { kind: 'messages', failed: [] })).toEqual({ statusCode: 200 });
    for (const cloud of ['aws', 'yandex'] as const)
      expect(shapeResult(cloud, { kind: 'http', status: 202, body: '{"job":"j-1"}' })).toEqual({
        statusCode: 202,
        headers: { 'content-type': 'application/json' },
        body: '{"job":"j-1"}',
        isBase64Encoded: false,
      });
  });
});
