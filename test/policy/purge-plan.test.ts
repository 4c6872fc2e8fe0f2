import { parseDuration } from '../../lib/policy/duration';
import { planPurge } from '../../lib/policy/purge-plan';

const NOW = new Date('2026-12-02T12:00:00Z');
const daysAgo = (d: number) => ({
  id: `s${d}`,
  time: new Date(NOW.getTime() - d * 86_400_000),
  tags: [],
  group: 'saves',
});
const SNAPSHOTS = [40, 20, 10, 2, 1].map(daysAgo);
const ids = (xs: { snapshot: { id: string } }[]) => xs.map((x) => x.snapshot.id);

describe('purge plan', () => {
  it('keep rules decide between the minimum and the maximum', () => {
    const plan = planPurge(
      SNAPSHOTS,
      { keep: { last: 3 }, minimum: parseDuration('5d'), maximum: parseDuration('30d') },
      [],
      { now: NOW },
    );
    expect(ids(plan.keep)).toEqual(['s10', 's2', 's1']);
    expect(plan.remove.map((r) => [r.snapshot.id, r.reason])).toEqual([
      ['s40', 'older than the retention maximum'],
      ['s20', 'no keep rule keeps it'],
    ]);
  });

  it('the minimum keeps young snapshots whatever the keep rules say', () => {
    const plan = planPurge(SNAPSHOTS, { keep: { last: 1 }, minimum: parseDuration('15d') }, [], { now: NOW });
    expect(ids(plan.keep)).toEqual(['s10', 's2', 's1']);
    expect(plan.keep.find((k) => k.snapshot.id === 's10')!.reasons).toEqual([
      'younger than the retention minimum',
    ]);
    expect(ids(plan.remove)).toEqual(['s40', 's20']);
  });

  it('the maximum removes old snapshots even when a keep rule would keep them', () => {
    const plan = planPurge(SNAPSHOTS, { keep: { last: 10 }, maximum: parseDuration('15d') }, [], {
      now: NOW,
    });
    expect(ids(plan.remove)).toEqual(['s40', 's20']);
  });

  it('a legal hold beats everything, and one past the maximum is reported', () => {
    const plan = planPurge(
      SNAPSHOTS,
      { keep: { last: 1 }, maximum: parseDuration('15d') },
      [{ id: 'case-17', snapshots: ['s40'] }],
      { now: NOW },
    );
    expect(ids(plan.keep)).toEqual(['s40', 's1']);
    expect(plan.heldPastMaximum).toEqual([{ snapshot: SNAPSHOTS[0], hold: 'case-17' }]);
    const all = planPurge(SNAPSHOTS, { keep: { last: 1 }, maximum: parseDuration('1d') }, [{ id: 'audit' }], {
      now: NOW,
    });
    expect(all.remove).toEqual([]);
    expect(all.keep.every((k) => k.reasons.includes('legal hold audit'))).toBe(true);
  });

  it('without keep rules everything within the maximum is kept (never "remove all")', () => {
    const plan = planPurge(SNAPSHOTS, { keep: {} }, [], { now: NOW });
    expect(plan.remove).toEqual([]);
    expect(
      planPurge(SNAPSHOTS, { keep: {}, maximum: parseDuration('15d') }, [], { now: NOW }).remove.map(
        (r) => r.snapshot.id,
      ),
    ).toEqual(['s40', 's20']);
  });
});
