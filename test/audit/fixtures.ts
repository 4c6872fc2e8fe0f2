import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditEntry } from '../../lib/audit/event';

/** An entry as the CLI would record it, told apart by `n`. */
export function entry(n: number, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    principal: { kind: 'local', subject: 'alice', roles: [] },
    action: 'restore',
    target: { snapshot: `s${n}` },
    outcome: 'succeeded',
    correlationId: `c-${n}`,
    origin: 'test',
    ...extra,
  };
}

/** The file of an audit object in a folder repository. */
export function auditFile(dir: string, seq: number): string {
  return join(dir, 'audit', String(seq).padStart(16, '0'));
}

/** Swaps two audit objects of a folder repository (each renamed into the other's place). */
export async function swapEvents(dir: string, a: number, b: number): Promise<void> {
  const tmp = `${auditFile(dir, a)}.swap`;
  await rename(auditFile(dir, a), tmp);
  await rename(auditFile(dir, b), auditFile(dir, a));
  await rename(tmp, auditFile(dir, b));
}
