/** Reading the audit trail in order, for `zapas audit log` and the service's audit route. */

import type { AuditRepository } from './audit-log';
import { auditObjectName, openEvent } from './audit-object';
import type { AuditEvent } from './event';
import { listAuditObjects, readAll } from './verify';

/** One place of the trail as read: its event, or why its object did not open. */
export type ReadEvent = { seq: number; event: AuditEvent } | { seq: number; object: string; error: Error };

/** Events read ahead at once. */
const WINDOW = 256;

/**
 * The trail's events by sequence number; with `since`, only those at or after that moment. An object
 * that does not open is yielded as an error (the chain is verify's to judge: verifyAuditTrail).
 */
export async function* readAuditEvents(
  repo: AuditRepository,
  { since }: { since?: Date } = {},
): AsyncGenerator<ReadEvent> {
  const { names } = await listAuditObjects(repo.storage);
  const seqs = [...names.keys()].sort((a, b) => a - b);
  for (let at = 0; at < seqs.length; at += WINDOW) {
    const window = seqs.slice(at, at + WINDOW);
    const bytes = await readAll(repo.storage, window);
    for (const seq of window) {
      const sealed = bytes.get(seq);
      if (!sealed) continue; // removed while listed
      const object = auditObjectName(seq);
      let event: AuditEvent;
      try {
        event = openEvent(repo.keyring, sealed, seq, object);
      } catch (err) {
        yield { seq, object, error: err as Error };
        continue;
      }
      if (since && Date.parse(event.time) < since.getTime()) continue;
      yield { seq, event };
    }
  }
}
