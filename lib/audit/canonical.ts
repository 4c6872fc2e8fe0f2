/**
 * The canonical encoding of an audit event, which the chain hashes: JSON with every object's keys sorted
 * by UTF-16 code unit, no whitespace, absent (undefined) fields left out, strings escaped as
 * JSON.stringify does, UTF-8. For the values an event holds (strings, whole numbers, arrays, objects)
 * this is RFC 8785 (JCS), so another implementation can recompute a hash.
 */
import { createHash } from 'node:crypto';

/** The canonical JSON text of `value`. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isSafeInteger(value))
      throw new TypeError(`an audit event holds whole numbers only, not ${value}`);
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError(`${typeof value} has no JSON encoding`);
    return text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The chain hash of an event: hex SHA-256 of its canonical encoding. */
export function eventHash(event: unknown): string {
  return createHash('sha256').update(canonicalJson(event), 'utf8').digest('hex');
}

/** What the first event's `prev` holds. */
export const GENESIS_HASH = '0'.repeat(64);
