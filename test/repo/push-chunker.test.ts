import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Chunker, gearTable } from '../../lib/repo/chunker';
import { PushChunker } from '../../lib/repo/push-chunker';

// Small sizes so that a few hundred KiB hold many chunks of every kind (min, normal, large, max).
const chunker = new Chunker(gearTable(Buffer.alloc(32, 7)), {
  minBytes: 2048,
  avgBytes: 8192,
  maxBytes: 65536,
});

function pushed(data: Buffer, pieces: number[]): number[] {
  const p = new PushChunker(chunker);
  const out: number[] = [];
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.min(pieces[i++ % pieces.length]!, data.length - at);
    p.push(data.subarray(at, at + n), (c) => out.push(c.length));
    at += n;
  }
  p.end((c) => out.push(c.length));
  return out;
}

describe('PushChunker (data pushed in pieces)', () => {
  it('cuts exactly where Chunker.split does, whatever the pieces', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 400_000 }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (size, pieces, zeros) => {
          const data = zeros
            ? Buffer.concat([randomBytes(size >> 1), Buffer.alloc(size - (size >> 1))])
            : randomBytes(size);
          expect(pushed(data, pieces)).toEqual(chunker.split(data));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('starts afresh after end(): the next file is cut on its own', () => {
    const a = randomBytes(150_000);
    const b = randomBytes(90_000);
    const p = new PushChunker(chunker);
    const out: number[][] = [[], []];
    p.push(a, (c) => out[0]!.push(c.length));
    p.end((c) => out[0]!.push(c.length));
    p.push(b, (c) => out[1]!.push(c.length));
    p.end((c) => out[1]!.push(c.length));
    expect(out).toEqual([chunker.split(a), chunker.split(b)]);
  });

  it('hands out views whose bytes are the data', () => {
    const data = randomBytes(300_000);
    const parts: Buffer[] = [];
    const p = new PushChunker(chunker);
    for (let at = 0; at < data.length; at += 7_777)
      p.push(data.subarray(at, at + 7_777), (c) => parts.push(Buffer.from(c)));
    p.end((c) => parts.push(Buffer.from(c)));
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });
});
