/**
 * One shape for what triggers a stage, whichever cloud delivered it: AWS (EventBridge schedule, SQS batch,
 * S3 notification, API Gateway HTTP API v2) or Yandex Cloud Functions (timer, Message Queue, Object
 * Storage trigger, HTTP integration / API Gateway payload 1.0). The stages see only NormalizedEvent;
 * shapeResult turns their answer back into what the delivering cloud expects.
 */
import { z } from 'zod';

export type Cloud = 'aws' | 'yandex';

export interface InboundMessage {
  id: string;
  body: string;
  attributes: Record<string, string>;
  receiveCount: number;
  /** Queue the message came from (ARN or YRN). */
  queue: string;
}

export interface ObjectRecord {
  bucket: string;
  key: string;
  event: 'created' | 'deleted';
  size?: number;
  etag?: string;
}

export type NormalizedEvent =
  | { kind: 'schedule'; cloud: Cloud; id: string; time: string; trigger: string; payload?: string }
  | { kind: 'messages'; cloud: Cloud; messages: InboundMessage[] }
  | { kind: 'objects'; cloud: Cloud; records: ObjectRecord[] }
  | {
      kind: 'http';
      cloud: Cloud;
      method: string;
      path: string;
      /** Lower-case names; repeated headers joined with ", ". */
      headers: Record<string, string>;
      query: Record<string, string>;
      body: string;
      requestId: string;
    };

/** An event none of the known shapes matches: names what it looked like. */
export class UnknownEventError extends Error {
  override readonly name = 'UnknownEventError';
}

const awsSchedule = z.looseObject({
  source: z.literal('aws.events'),
  'detail-type': z.literal('Scheduled Event'),
  id: z.string(),
  time: z.string(),
  resources: z.array(z.string()).default([]),
});

const awsSqs = z.looseObject({
  Records: z
    .array(
      z.looseObject({
        eventSource: z.literal('aws:sqs'),
        messageId: z.string(),
        body: z.string(),
        eventSourceARN: z.string(),
        attributes: z.looseObject({ ApproximateReceiveCount: z.string().optional() }).default({}),
        messageAttributes: z
          .record(z.string(), z.looseObject({ stringValue: z.string().optional().nullable() }))
          .default({}),
      }),
    )
    .min(1),
});

const awsS3 = z.looseObject({
  Records: z
    .array(
      z.looseObject({
        eventSource: z.literal('aws:s3'),
        eventName: z.string(),
        s3: z.looseObject({
          bucket: z.looseObject({ name: z.string() }),
          object: z.looseObject({
            key: z.string(),
            size: z.number().optional(),
            eTag: z.string().optional(),
          }),
        }),
      }),
    )
    .min(1),
});

const awsHttp = z.looseObject({
  version: z.literal('2.0'),
  rawPath: z.string(),
  rawQueryString: z.string().default(''),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.looseObject({ requestId: z.string(), http: z.looseObject({ method: z.string() }) }),
});

const ycMeta = (type: string) =>
  z.looseObject({ event_id: z.string(), event_type: z.string().endsWith(type), created_at: z.string() });

const ycTimer = z.looseObject({
  messages: z
    .array(
      z.looseObject({
        event_metadata: ycMeta('TimerMessage'),
        details: z.looseObject({ trigger_id: z.string(), payload: z.string().optional() }),
      }),
    )
    .min(1),
});

const ycQueue = z.looseObject({
  messages: z
    .array(
      z.looseObject({
        event_metadata: ycMeta('messagequeue.QueueMessage'),
        details: z.looseObject({
          queue_id: z.string(),
          message: z.looseObject({
            message_id: z.string(),
            body: z.string(),
            attributes: z.record(z.string(), z.string()).default({}),
            message_attributes: z
              .record(z.string(), z.looseObject({ stringValue: z.string().optional() }))
              .default({}),
          }),
        }),
      }),
    )
    .min(1),
});

const ycStorage = z.looseObject({
  messages: z
    .array(
      z.looseObject({
        event_metadata: z.looseObject({
          event_id: z.string(),
          event_type: z.string().regex(/storage\.Object(Create|Update|Delete)$/),
        }),
        details: z.looseObject({ bucket_id: z.string(), object_id: z.string() }),
      }),
    )
    .min(1),
});

const ycHttp = z.looseObject({
  httpMethod: z.string(),
  path: z.string().optional(),
  url: z.string().optional(),
  headers: z.record(z.string(), z.string()).default({}),
  multiValueHeaders: z.record(z.string(), z.array(z.string())).default({}),
  queryStringParameters: z.record(z.string(), z.string()).nullable().default({}),
  body: z.string().default(''),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.looseObject({ requestId: z.string() }),
});

/** The delivering cloud's event as a NormalizedEvent; UnknownEventError when it is none of the known ones. */
export function normalizeEvent(event: unknown): NormalizedEvent {
  const e = event as Record<string, unknown> | null;
  if (e === null || typeof e !== 'object')
    throw new UnknownEventError(`an event must be an object, got ${typeof event}`);
  const records = Array.isArray(e.Records) ? (e.Records as Record<string, unknown>[]) : undefined;
  const messages = Array.isArray(e.messages) ? (e.messages as Record<string, unknown>[]) : undefined;
  const firstType = String(
    (messages?.[0]?.event_metadata as Record<string, unknown> | undefined)?.event_type ?? '',
  );
  if (e.source === 'aws.events') {
    const s = parse(awsSchedule, e, 'EventBridge scheduled event');
    return {
      kind: 'schedule',
      cloud: 'aws',
      id: s.id,
      time: s.time,
      trigger: s.resources[0] ?? 'eventbridge',
    };
  }
  if (records?.[0]?.eventSource === 'aws:sqs') {
    const s = parse(awsSqs, e, 'SQS batch');
    return {
      kind: 'messages',
      cloud: 'aws',
      messages: s.Records.map((r) => ({
        id: r.messageId,
        body: r.body,
        queue: r.eventSourceARN,
        receiveCount: Number(r.attributes.ApproximateReceiveCount ?? 1),
        attributes: stringAttributes(r.messageAttributes),
      })),
    };
  }
  if (records?.[0]?.eventSource === 'aws:s3') {
    const s = parse(awsS3, e, 'S3 notification');
    return {
      kind: 'objects',
      cloud: 'aws',
      records: s.Records.map((r) => ({
        bucket: r.s3.bucket.name,
        // S3 notifications URL-encode keys, with + for spaces.
        key: decodeURIComponent(r.s3.object.key.replace(/\+/g, ' ')),
        event: r.eventName.startsWith('ObjectRemoved') ? 'deleted' : 'created',
        ...(r.s3.object.size !== undefined ? { size: r.s3.object.size } : {}),
        ...(r.s3.object.eTag ? { etag: r.s3.object.eTag } : {}),
      })),
    };
  }
  if (e.version === '2.0' && typeof e.rawPath === 'string') {
    const h = parse(awsHttp, e, 'API Gateway HTTP API (v2) request');
    return {
      kind: 'http',
      cloud: 'aws',
      method: h.requestContext.http.method.toUpperCase(),
      path: h.rawPath,
      headers: lowerKeys(h.headers),
      query: Object.fromEntries(new URLSearchParams(h.rawQueryString)),
      body: decodeBody(h.body ?? '', h.isBase64Encoded),
      requestId: h.requestContext.requestId,
    };
  }
  if (messages && firstType.endsWith('TimerMessage')) {
    const t = parse(ycTimer, e, 'Yandex timer trigger');
    const m = t.messages[0]!;
    return {
      kind: 'schedule',
      cloud: 'yandex',
      id: m.event_metadata.event_id,
      time: m.event_metadata.created_at,
      trigger: m.details.trigger_id,
      ...(m.details.payload ? { payload: m.details.payload } : {}),
    };
  }
  if (messages && firstType.endsWith('messagequeue.QueueMessage')) {
    const q = parse(ycQueue, e, 'Yandex Message Queue trigger');
    return {
      kind: 'messages',
      cloud: 'yandex',
      messages: q.messages.map((m) => ({
        id: m.details.message.message_id,
        body: m.details.message.body,
        queue: m.details.queue_id,
        receiveCount: Number(m.details.message.attributes.ApproximateReceiveCount ?? 1),
        attributes: stringAttributes(m.details.message.message_attributes),
      })),
    };
  }
  if (messages && /storage\.Object/.test(firstType)) {
    const o = parse(ycStorage, e, 'Yandex Object Storage trigger');
    return {
      kind: 'objects',
      cloud: 'yandex',
      records: o.messages.map((m) => ({
        bucket: m.details.bucket_id,
        key: m.details.object_id,
        event: m.event_metadata.event_type.endsWith('ObjectDelete') ? 'deleted' : 'created',
      })),
    };
  }
  if (typeof e.httpMethod === 'string') {
    const h = parse(ycHttp, e, 'Yandex HTTP request');
    const headers = lowerKeys(h.headers);
    for (const [k, v] of Object.entries(h.multiValueHeaders)) headers[k.toLowerCase()] = v.join(', ');
    return {
      kind: 'http',
      cloud: 'yandex',
      method: h.httpMethod.toUpperCase(),
      path: h.path ?? h.url ?? '/',
      headers,
      query: { ...(h.queryStringParameters ?? {}) },
      body: decodeBody(h.body, h.isBase64Encoded),
      requestId: h.requestContext.requestId,
    };
  }
  throw new UnknownEventError(
    `not an event zapas knows (keys: ${Object.keys(e).slice(0, 8).join(', ') || 'none'}${firstType ? `; event_type ${firstType}` : ''})`,
  );
}

/** What a stage answers, per kind of event. */
export type StageResult =
  | { kind: 'http'; status: number; headers?: Record<string, string>; body: string }
  | { kind: 'messages'; failed: string[] }
  | { kind: 'done' };

/**
 * The answer the delivering cloud expects. A batch with failures: on AWS, `batchItemFailures` (only
 * those come back); Yandex's Message Queue trigger has no partial report, so the invocation fails and
 * the whole batch returns (the stages are idempotent, so the others are done again harmlessly).
 */
export function shapeResult(cloud: Cloud, result: StageResult): unknown {
  if (result.kind === 'http')
    return {
      statusCode: result.status,
      headers: { 'content-type': 'application/json', ...result.headers },
      body: result.body,
      isBase64Encoded: false,
    };
  if (result.kind === 'messages') {
    if (cloud === 'aws') return { batchItemFailures: result.failed.map((id) => ({ itemIdentifier: id })) };
    if (result.failed.length > 0)
      throw new BatchFailedError(
        `${result.failed.length} message(s) failed (${result.failed.slice(0, 5).join(', ')}): the batch is retried`,
      );
    return { statusCode: 200 };
  }
  return cloud === 'yandex' ? { statusCode: 200 } : {};
}

export class BatchFailedError extends Error {
  override readonly name = 'BatchFailedError';
}

function parse<T extends z.ZodType>(schema: T, event: unknown, what: string): z.output<T> {
  const r = schema.safeParse(event);
  if (!r.success)
    throw new UnknownEventError(
      `malformed ${what}: ${r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`)
        .join('; ')}`,
    );
  return r.data;
}

function stringAttributes(
  attrs: Record<string, { stringValue?: string | null | undefined }>,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries(attrs).flatMap(([k, v]) =>
      typeof v.stringValue === 'string' ? [[k, v.stringValue]] : [],
    ),
  );
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

function decodeBody(body: string, base64: boolean): string {
  return base64 ? Buffer.from(body, 'base64').toString('utf8') : body;
}
