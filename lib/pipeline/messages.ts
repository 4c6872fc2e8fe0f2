/** The messages platform services send to the orchestrator's queue, validated before anything is done. */
import { z } from 'zod';

export const platformMessage = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('backup-now'),
      source: z.string().min(1),
      reason: z.string().max(500).optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('export-ready'),
      source: z.string().min(1),
      /** Where the export landed: s3://bucket/key. */
      at: z.string().regex(/^s3:\/\/[^/]+\/.+$/, 'an s3://bucket/key location'),
      bytes: z.int().min(0).optional(),
    })
    .strict(),
]);

export type PlatformMessage = z.output<typeof platformMessage>;

/** A message that can never be handled: the reason goes with it to the dead-letter queue. */
export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Parses a message body, or says in one line why it never can be handled. */
export function parsePlatformMessage(body: string): PlatformMessage {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new PoisonMessageError('the body is not JSON');
  }
  const r = platformMessage.safeParse(json);
  if (!r.success)
    throw new PoisonMessageError(
      r.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
        .join('; '),
    );
  return r.data;
}
