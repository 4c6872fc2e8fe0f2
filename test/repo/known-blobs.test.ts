import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { KnownBlobs } from '../../lib/repo/known-blobs';

const hex = (bytes = 32) => randomBytes(bytes).toString('hex');

describe('KnownBlobs (blob-id fingerprints in shared memory)', () => {
  it('holds every id added, also after growing many times', () => {
    const known = new KnownBlobs();
    const ids = Array.from({ length: 100_000 }, () => hex());
    for (const id of ids) known.add(id);
    expect(ids.every((id) => KnownBlobs.mayHold(known.buffer, id))).toBe(true);
  });

  it('rarely holds an id never added (64-bit fingerprints)', () => {
    const known = new KnownBlobs();
    for (let i = 0; i < 50_000; i++) known.add(hex());
    const strangers = Array.from({ length: 50_000 }, () => hex());
    expect(strangers.filter((id) => KnownBlobs.mayHold(known.buffer, id)).length).toBe(0);
  });

  it('answers the same through a buffer taken before it grew (a job in flight keeps its view)', () => {
    const known = new KnownBlobs();
    const first = hex();
    known.add(first);
    const before = known.buffer;
    for (let i = 0; i < 100_000; i++) known.add(hex());
    expect(known.buffer).not.toBe(before);
    expect(KnownBlobs.mayHold(before, first)).toBe(true);
    expect(KnownBlobs.mayHold(known.buffer, first)).toBe(true);
  });

  it('matches ids on their first 64 bits only: a hit is a hint the caller must check', () => {
    const known = new KnownBlobs();
    const id = hex();
    known.add(`${id.slice(0, 16)}${'0'.repeat(48)}`);
    expect(KnownBlobs.mayHold(known.buffer, id)).toBe(true);
  });

  it('holds ids whose first word is zero (zero marks an empty slot)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 24, maxLength: 24 }), (rest) => {
        const known = new KnownBlobs();
        const id = `00000000${Buffer.from(rest).toString('hex')}`;
        known.add(id);
        return KnownBlobs.mayHold(known.buffer, id);
      }),
    );
  });
});
