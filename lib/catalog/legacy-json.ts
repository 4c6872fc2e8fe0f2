/**
 * The catalog file of earlier versions of `zapas serve` (catalog.json: the whole state as one JSON
 * document, version 1), read once to import it into the database. Checked with zod: a damaged or foreign
 * file is an error naming it and the field, never a partial import.
 */
import { z } from 'zod';
import type { Hold, IngestPart, Lease, SourceState } from './catalog';
import type { CatalogRecords } from './embedded-catalog';
import { CatalogError } from './errors';
import { JOB_STATES, type Job } from './jobs';

/** The separator of the old file's composite keys (`source` NUL `schedule`). */
const KEY_SEPARATOR = '\u0000';

// Records keep every field they have (looseObject); what the database indexes is checked.
const job = z.looseObject({
  id: z.string().min(1),
  source: z.string().min(1),
  state: z.enum(JOB_STATES),
  createdAt: z.iso.datetime(),
  endedAt: z.iso.datetime().optional(),
});
const lease = z.looseObject({ name: z.string(), owner: z.string(), expiresAt: z.number() });
const source = z.looseObject({ source: z.string() });
const hold = z.looseObject({ source: z.string(), id: z.string() });
const part = z.looseObject({ jobId: z.string(), index: z.int().min(0) });

const legacyFile = z.strictObject({
  version: z.literal(1),
  jobs: z.record(z.string(), job).default({}),
  leases: z.record(z.string(), lease).default({}),
  sources: z.record(z.string(), source).default({}),
  slots: z
    .record(
      z
        .string()
        .refine((k) => k.split(KEY_SEPARATOR).length === 2, 'a slot key is "<source>\\u0000<schedule>"'),
      z.string(),
    )
    .default({}),
  holds: z.record(z.string(), hold).default({}),
  parts: z.record(z.string(), part).default({}),
});

/** The records of an earlier catalog file's text; `file` names it in errors. */
export function parseLegacyCatalog(text: string, file: string): CatalogRecords {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(`the earlier catalog file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (version !== undefined && version !== 1)
    throw new CatalogError(`the earlier catalog file ${file} has version ${String(version)}; zapas reads 1`);
  const parsed = legacyFile.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new CatalogError(
      `the earlier catalog file ${file} cannot be imported: ${first.path.join('.') || '(the file)'}: ${first.message}`,
    );
  }
  const state = parsed.data;
  return {
    jobs: Object.values(state.jobs) as unknown as Job[],
    leases: Object.values(state.leases) as Lease[],
    sources: Object.values(state.sources) as SourceState[],
    slots: Object.entries(state.slots).map(([key, slot]) => {
      const [src, schedule] = key.split(KEY_SEPARATOR) as [string, string];
      return { source: src, schedule, slot };
    }),
    holds: Object.values(state.holds) as unknown as Hold[],
    parts: Object.values(state.parts) as unknown as IngestPart[],
  };
}
