import { READ_GAP_BYTES, readRuns } from '../../lib/sources/files/restore-plan';

const blob = (offset: number, length: number) => ({ offset, length });

describe('readRuns (how a pack is read: one ranged request per run)', () => {
  it('reads through small gaps and splits at large ones', () => {
    const blobs = [blob(0, 100), blob(100 + READ_GAP_BYTES, 100), blob(300 + 2 * READ_GAP_BYTES, 100)];
    expect(readRuns(blobs).map((r) => r.length)).toEqual([2, 1]);
  });

  it('caps a run by its bytes, and by its blobs', () => {
    const blobs = Array.from({ length: 10 }, (_, i) => blob(i * 100, 100));
    expect(readRuns(blobs, 350).map((r) => r.length)).toEqual([3, 3, 3, 1]);
    expect(readRuns(blobs, Number.POSITIVE_INFINITY, 4).map((r) => r.length)).toEqual([4, 4, 2]);
    // Every blob lands in exactly one run, in order.
    expect(readRuns(blobs, 350, 2).flat()).toEqual(blobs);
  });

  it('puts a blob larger than the byte cap in a run of its own', () => {
    expect(readRuns([blob(0, 10), blob(10, 1000), blob(1010, 10)], 100).map((r) => r.length)).toEqual([
      1, 1, 1,
    ]);
  });
});
