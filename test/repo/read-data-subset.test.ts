import fc from 'fast-check';
import type { PackId } from '../../lib/repo/ids';
import {
  choosePacks,
  groupOf,
  parseReadDataSubset,
  ReadDataSubsetError,
} from '../../lib/repo/read-data-subset';

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/).map((s) => s as PackId);
const packMap = fc
  .uniqueArray(fc.tuple(hex64, fc.integer({ min: 1, max: 64 << 20 })), {
    selector: ([id]) => id,
    maxLength: 60,
  })
  .map((entries) => new Map(entries));

describe('--read-data-subset forms (restic: n/t, x%, a size)', () => {
  it.each([
    ['1/5', { kind: 'group', n: 1, of: 5 }],
    ['5/5', { kind: 'group', n: 5, of: 5 }],
    ['10%', { kind: 'percent', percent: 10 }],
    ['2.5%', { kind: 'percent', percent: 2.5 }],
    ['100%', { kind: 'all' }],
    ['500M', { kind: 'bytes', bytes: 500 * 2 ** 20 }],
    ['2G', { kind: 'bytes', bytes: 2 * 2 ** 30 }],
    ['2GiB', { kind: 'bytes', bytes: 2 * 2 ** 30 }],
    ['1.5t', { kind: 'bytes', bytes: 1.5 * 2 ** 40 }],
    ['700K', { kind: 'bytes', bytes: 700 * 1024 }],
    ['4096B', { kind: 'bytes', bytes: 4096 }],
  ])('%s', (text, want) => {
    expect(parseReadDataSubset(text)).toEqual(want);
  });

  it.each([
    ['0/5', /1 <= n <= t/],
    ['6/5', /1 <= n <= t/],
    ['1/0', /1 <= n <= t/],
    ['0%', /above 0/],
    ['101%', /at most 100/],
    ['0M', /at least 1 byte/],
    ['10', /no unit: write 10% .* or 10M/],
    ['abc', /is not n\/t .*, a percentage .* or a size/],
    ['-1/5', /is not/],
    ['1e3%', /is not/],
    ['5X', /is not/],
    ['', /is not/],
  ])('%s is refused', (text, message) => {
    expect(() => parseReadDataSubset(text)).toThrow(ReadDataSubsetError);
    expect(() => parseReadDataSubset(text)).toThrow(message);
  });

  it('any text parses or is refused with ReadDataSubsetError, never anything else', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        try {
          parseReadDataSubset(text);
        } catch (err) {
          expect(err).toBeInstanceOf(ReadDataSubsetError);
        }
      }),
    );
  });
});

describe('which packs a subset reads', () => {
  it('groups 1/t .. t/t read every pack exactly once, and the same ones each time', () => {
    fc.assert(
      fc.property(packMap, fc.integer({ min: 1, max: 12 }), (packs, of) => {
        const seen: PackId[] = [];
        for (let n = 1; n <= of; n++) {
          const group = choosePacks(packs, { kind: 'group', n, of });
          expect(choosePacks(packs, { kind: 'group', n, of })).toEqual(group);
          for (const id of group) expect(groupOf(id, of)).toBe(n);
          seen.push(...group);
        }
        expect(seen.sort()).toEqual([...packs.keys()].sort());
      }),
    );
  });

  it('a percentage reads that share, rounded up, at least one pack, no pack twice', () => {
    fc.assert(
      fc.property(packMap, fc.double({ min: 0.01, max: 99.99, noNaN: true }), (packs, percent) => {
        const chosen = choosePacks(packs, { kind: 'percent', percent });
        expect(new Set(chosen).size).toBe(chosen.length);
        expect(chosen.length).toBe(
          packs.size === 0 ? 0 : Math.max(1, Math.ceil((packs.size * percent) / 100)),
        );
      }),
    );
  });

  it('a size reads random packs adding up to at most it (at least one), and every pack when it fits', () => {
    fc.assert(
      fc.property(packMap, fc.integer({ min: 1, max: 256 << 20 }), (packs, bytes) => {
        const chosen = choosePacks(packs, { kind: 'bytes', bytes });
        expect(new Set(chosen).size).toBe(chosen.length);
        const total = chosen.reduce((s, id) => s + packs.get(id)!, 0);
        if (chosen.length > 1) expect(total).toBeLessThanOrEqual(bytes);
        if (packs.size > 0) expect(chosen.length).toBeGreaterThanOrEqual(1);
        // Nothing left out would still have fitted.
        for (const id of packs.keys())
          if (!chosen.includes(id)) expect(total + packs.get(id)!).toBeGreaterThan(bytes);
      }),
    );
  });
});
