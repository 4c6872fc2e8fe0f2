/** The messages platform services and the stages send to queues, validated before anything is done. */
import { z } from 'zod';
import { CORRELATION_ID_PATTERN } from './log-context';

/**
 * Every message may carry the correlation id of the request or job it belongs to (log-context.ts); one
 * without gets a new one where it is received. A malformed one makes the message poison.
 */
const correlationId = z
  .string()
  .regex(CORRELATION_ID_PATTERN, 'a correlation id: 1–128 letters, digits and ._:@/+=- (no spaces)')
  .optional();

export const platformMessage = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('backup-now'),
      source: z.string().min(1),
      reason: z.string().max(500).optional(),
      correlationId,
    })
    .strict(),
  z
    .object({
      type: z.literal('export-ready'),
      source: z.string().min(1),
      /** Where the export landed: s3://bucket/key. */
      at: z.string().regex(/^s3:\/\/[^/]+\/.+$/, 'an s3://bucket/key location'),
      bytes: z.int().min(0).optional(),
      correlationId,
    })
    .strict(),
]);

export type PlatformMessage = z.output<typeof platformMessage>;

/** A message that can never be handled: the reason goes with it to the dead-letter queue. */
export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Messages between the stages: ingest work, a finished ingest, a job for the verify function. */
export const ingestWorkMessage = z
  .object({
    type: z.literal('ingest-part'),
    jobId: z.string().min(1),
    bucket: z.string().min(1),
    key: z.string().min(1),
    index: z.int().min(0),
    offset: z.int().min(0),
    length: z.int().min(0),
    parts: z.int().min(1),
    correlationId,
  })
  .strict();

export const stageMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ingest-complete'), jobId: z.string().min(1), correlationId }).strict(),
  z.object({ type: z.literal('run-job'), jobId: z.string().min(1), correlationId }).strict(),
]);

/** The `type` field of a JSON message body, or undefined (the full parse then says what is wrong). */
export function messageType(body: string): string | undefined {
  try {
    const t = (JSON.parse(body) as { type?: unknown } | null)?.type;
    return typeof t === 'string' ? t : undefined;
  } catch {
    return undefined;
  }
}

/** Parses a message body against `schema`, or says in one line why it never can be handled. */
export function parseMessage<T extends z.ZodType>(schema: T, body: string): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new PoisonMessageError('the body is not JSON');
  }
  const r = schema.safeParse(json);
  if (!r.success)
    throw new PoisonMessageError(
      r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
        .join('; '),
    );
  return r.data;
}

/** Parses a platform message body, or says in one line why it never can be handled. */
export function parsePlatformMessage(body: string): PlatformMessage {
  return parseMessage(platformMessage, body);
}
