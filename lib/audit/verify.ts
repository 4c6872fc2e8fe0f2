/**
 * Checks an audit trail end to end: every sequence number from 1 present once, every object opening as
 * the event its name says (sealed with the repository key, bound to its number), every `prev` the hash of
 * the event before, and — given the head a catalog kept — nothing cut off the end. Stops at the first
 * problem, naming the event and its object.
 */
import type { Keyring } from '../repo/crypto';
import { METADATA_READ_PARALLELISM, mapLimit } from '../repo/repository';
import { ObjectNotFoundError } from '../storage/errors';
import type { Storage } from '../storage/storage';
import type { AuditHead, AuditRepository } from './audit-log';
import { AUDIT_PREFIX, auditObjectName, openEvent, seqOfName } from './audit-object';
import { eventHash, GENESIS_HASH } from './canonical';
import type { AuditEvent } from './event';

export type AuditProblemKind =
  /** A sequence number with no object (deleted), while later ones exist. */
  | 'missing'
  /** An object that does not open (a changed byte, another key), or whose `prev` is not the hash before. */
  | 'altered'
  /** An object that opens, but as another number's event: moved or swapped. */
  | 'out-of-order'
  /** The trail ends before the head the catalog recorded. */
  | 'truncated'
  /** An object under `audit/` whose name is no event's. */
  | 'unexpected';

export interface AuditProblem {
  kind: AuditProblemKind;
  /** The first sequence number at fault (for `unexpected`: the one after the last whole event). */
  seq: number;
  /** Its object's name. */
  object: string;
  detail: string;
}

export interface AuditVerdict {
  ok: boolean;
  /** Events checked whole, from 1 on. */
  events: number;
  /** The last whole event. */
  head: AuditHead;
  problem?: AuditProblem;
}

/** Events read ahead at once. */
const WINDOW = 256;

/** Verifies the whole trail of `repo`; `catalogHead`: the head the catalog kept, to catch a cut tail. */
export async function verifyAuditTrail(
  repo: AuditRepository,
  { catalogHead }: { catalogHead?: AuditHead } = {},
): Promise<AuditVerdict> {
  const { names, stray } = await listAuditObjects(repo.storage);
  const seqs = [...names.keys()].sort((a, b) => a - b);
  let head: AuditHead = { seq: 0, hash: GENESIS_HASH };
  const fail = (kind: AuditProblemKind, seq: number, object: string, detail: string): AuditVerdict => ({
    ok: false,
    events: head.seq,
    head,
    problem: { kind, seq, object, detail },
  });
  for (let at = 0; at < seqs.length; at += WINDOW) {
    const window = seqs.slice(at, at + WINDOW);
    const bytes = await readAll(repo.storage, window);
    for (const seq of window) {
      const name = auditObjectName(seq);
      if (seq !== head.seq + 1)
        return fail('missing', head.seq + 1, auditObjectName(head.seq + 1), `no event ${head.seq + 1}`);
      const sealed = bytes.get(seq);
      if (!sealed) return fail('missing', seq, name, 'removed while the trail was read');
      let event: AuditEvent;
      try {
        event = openEvent(repo.keyring, sealed, seq, name);
      } catch (err) {
        const moved = belongsElsewhere(repo.keyring, sealed, seq, (seqs.at(-1) ?? 0) + 1);
        if (moved !== undefined)
          return fail('out-of-order', seq, name, `holds event ${moved}, not ${seq} (moved or swapped)`);
        return fail('altered', seq, name, (err as Error).message);
      }
      if (event.prev !== head.hash)
        return fail(
          'altered',
          seq,
          name,
          `its link to event ${head.seq} is broken (prev ${event.prev.slice(0, 12)}…, event ${head.seq} hashes to ${head.hash.slice(0, 12)}…): one of the two was changed`,
        );
      const hash = eventHash(event);
      if (catalogHead?.seq === seq && catalogHead.hash !== hash)
        return fail('altered', seq, name, 'it does not hash to the head the catalog recorded for it');
      head = { seq, hash };
    }
  }
  if (stray.length > 0)
    return fail('unexpected', head.seq + 1, stray.sort()[0]!, 'not the name of an audit event');
  if (catalogHead && catalogHead.seq > head.seq)
    return fail(
      'truncated',
      head.seq + 1,
      auditObjectName(head.seq + 1),
      `the trail ends at event ${head.seq}, but the catalog's head is event ${catalogHead.seq}`,
    );
  return { ok: true, events: head.seq, head };
}

/** Every event object's name by sequence number, and the names under `audit/` that are none. */
export async function listAuditObjects(
  storage: Storage,
): Promise<{ names: Map<number, string>; stray: string[] }> {
  const names = new Map<number, string>();
  const stray: string[] = [];
  for await (const info of storage.list(AUDIT_PREFIX)) {
    const seq = seqOfName(info.name);
    if (seq === undefined) stray.push(info.name);
    else names.set(seq, info.name);
  }
  return { names, stray };
}

/** The objects of `seqs`, read in parallel; a number whose object vanished is left out. */
export async function readAll(storage: Storage, seqs: readonly number[]): Promise<Map<number, Buffer>> {
  const out = new Map<number, Buffer>();
  await mapLimit(seqs, METADATA_READ_PARALLELISM, async (seq) => {
    try {
      out.set(seq, await storage.get(auditObjectName(seq)));
    } catch (err) {
      if (!(err instanceof ObjectNotFoundError)) throw err;
    }
  });
  return out;
}

/**
 * The number, up to `last`, whose event `sealed` is, if it opens as another's (a swapped or moved object).
 * Only after a failure, and cheap: an event is a small object, and GCM refuses the wrong number at once.
 */
function belongsElsewhere(keyring: Keyring, sealed: Buffer, seq: number, last: number): number | undefined {
  for (let other = 1; other <= last; other++) {
    if (other === seq) continue;
    try {
      openEvent(keyring, sealed, other, auditObjectName(other));
      return other;
    } catch {
      // not this one
    }
  }
  return undefined;
}
