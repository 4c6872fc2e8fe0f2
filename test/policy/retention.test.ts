import { parseDuration, ZERO_DURATION } from '../../lib/policy/duration';
import { PolicyError } from '../../lib/policy/errors';
import {
  applyRetention,
  EMPTY_POLICY_MESSAGE,
  type RetentionPolicy,
  type SnapshotForRetention,
  validateRetentionPolicy,
} from '../../lib/policy/retention';
import { keptIds, reasonsOf, removedIds, snap } from './fixtures';

const NOW = new Date('2024-06-30T12:00:00Z');
const atNow = { now: NOW };

describe('applyRetention: last', () => {
  const snapshots = [
    snap('a', '2024-01-01T10:00:00Z'),
    snap('b', '2024-01-02T10:00:00Z'),
    snap('c', '2024-01-03T10:00:00Z'),
    snap('d', '2024-01-04T10:00:00Z'),
  ];

  it('keeps the N newest, newest first', () => {
    const result = applyRetention(snapshots, { last: 2 }, atNow);
    expect(keptIds(result)).toEqual(['d', 'c']);
    expect(removedIds(result)).toEqual(['b', 'a']);
    expect(reasonsOf(result, 'd')).toEqual(['last snapshot']);
  });

  it('keeps everything when N exceeds the number of snapshots', () => {
    expect(keptIds(applyRetention(snapshots, { last: 10 }, atNow))).toEqual(['d', 'c', 'b', 'a']);
  });

  it('does not reorder the caller’s array', () => {
    const input = [...snapshots];
    applyRetention(input, { last: 1 }, atNow);
    expect(input).toEqual(snapshots);
  });
});

describe('applyRetention: calendar buckets', () => {
  it('hourly keeps the newest snapshot of each of the last N hours that have snapshots', () => {
    const snapshots = [
      snap('h10a', '2024-05-01T10:05:00Z'),
      snap('h10b', '2024-05-01T10:40:00Z'),
      snap('h11a', '2024-05-01T11:10:00Z'),
      snap('h11b', '2024-05-01T11:50:00Z'),
      snap('h14', '2024-05-01T14:30:00Z'),
    ];
    const result = applyRetention(snapshots, { hourly: 2 }, atNow);
    expect(keptIds(result)).toEqual(['h14', 'h11b']);
    expect(removedIds(result)).toEqual(['h11a', 'h10b', 'h10a']);
    expect(reasonsOf(result, 'h11b')).toEqual(['hourly snapshot']);
  });

  it('daily reproduces restic’s documented example (12 Sundays, --keep-daily 4)', () => {
    const ids = ['0a1f9759', '46cfe4d5', 'f6b1f037', 'eb430a5d', '8cf1cb9a', '5d33b116'];
    const more = ['b9553125', 'e1a7b58b', '8f8018c0', '59403279', 'dfee9fb4', 'e1ae2f40'];
    const sundays = [
      '2019-09-01',
      '2019-09-08',
      '2019-09-15',
      '2019-09-22',
      '2019-09-29',
      '2019-10-06',
      '2019-10-13',
      '2019-10-20',
      '2019-10-27',
      '2019-11-03',
      '2019-11-10',
      '2019-11-17',
    ];
    const snapshots = [...ids, ...more].map((id, i) => snap(id, `${sundays[i]}T11:00:00Z`));
    const result = applyRetention(snapshots, { daily: 4 }, atNow);
    expect(keptIds(result)).toEqual(['e1ae2f40', 'dfee9fb4', '59403279', '8f8018c0']);
    expect(removedIds(result)).toHaveLength(8);
    expect(result.keep.every((k) => k.reasons.join() === 'daily snapshot')).toBe(true);
  });

  it('daily with more days asked than present keeps one per day and nothing more', () => {
    const snapshots = [
      snap('mon-early', '2024-05-06T01:00:00Z'),
      snap('mon-late', '2024-05-06T23:00:00Z'),
      snap('tue', '2024-05-07T12:00:00Z'),
      snap('wed-early', '2024-05-08T08:00:00Z'),
      snap('wed-late', '2024-05-08T09:00:00Z'),
    ];
    const result = applyRetention(snapshots, { daily: 10 }, atNow);
    expect(keptIds(result)).toEqual(['wed-late', 'tue', 'mon-late']);
    expect(removedIds(result)).toEqual(['wed-early', 'mon-early']);
  });

  it('weekly uses ISO weeks, Monday to Sunday', () => {
    const snapshots = [
      snap('sun-w09', '2024-03-03T20:00:00Z'),
      snap('mon-w10', '2024-03-04T09:00:00Z'),
      snap('wed-w10', '2024-03-06T09:00:00Z'),
      snap('sun-w10', '2024-03-10T10:00:00Z'),
      snap('mon-w11', '2024-03-11T08:00:00Z'),
    ];
    expect(keptIds(applyRetention(snapshots, { weekly: 2 }, atNow))).toEqual(['mon-w11', 'sun-w10']);
    expect(keptIds(applyRetention(snapshots, { weekly: 3 }, atNow))).toEqual([
      'mon-w11',
      'sun-w10',
      'sun-w09',
    ]);
  });

  it('weekly keeps the last Sunday of 2024 and the Monday after apart (2024-W52 and 2025-W01)', () => {
    const snapshots = [snap('sun', '2024-12-29T12:00:00Z'), snap('mon', '2024-12-30T12:00:00Z')];
    expect(keptIds(applyRetention(snapshots, { weekly: 2 }, atNow))).toEqual(['mon', 'sun']);
  });

  it('monthly keeps the newest snapshot of each of the last N months', () => {
    const snapshots = [
      snap('jan-31', '2024-01-31T23:00:00Z'),
      snap('feb-01', '2024-02-01T01:00:00Z'),
      snap('feb-15', '2024-02-15T12:00:00Z'),
      snap('mar-01', '2024-03-01T00:00:00Z'),
    ];
    const result = applyRetention(snapshots, { monthly: 2 }, atNow);
    expect(keptIds(result)).toEqual(['mar-01', 'feb-15']);
    expect(reasonsOf(result, 'feb-15')).toEqual(['monthly snapshot']);
  });

  it('yearly keeps the newest snapshot of each of the last N years', () => {
    const snapshots = [
      snap('y2022', '2022-12-31T23:59:00Z'),
      snap('y2023-mid', '2023-06-01T00:00:00Z'),
      snap('y2023-end', '2023-12-31T23:59:59Z'),
      snap('y2024', '2024-01-01T00:00:01Z'),
    ];
    const result = applyRetention(snapshots, { yearly: 3 }, atNow);
    expect(keptIds(result)).toEqual(['y2024', 'y2023-end', 'y2022']);
    expect(removedIds(result)).toEqual(['y2023-mid']);
    expect(reasonsOf(result, 'y2022')).toEqual(['yearly snapshot']);
  });
});

describe('applyRetention: time zone', () => {
  // B is on 10 March in UTC but already on 11 March in Moscow (UTC+3).
  const snapshots = [
    snap('A', '2024-03-10T12:00:00Z'),
    snap('B', '2024-03-10T22:30:00Z'),
    snap('C', '2024-03-11T10:00:00Z'),
  ];

  it('buckets days in UTC by default', () => {
    const result = applyRetention(snapshots, { daily: 2 }, atNow);
    expect(keptIds(result)).toEqual(['C', 'B']);
    expect(removedIds(result)).toEqual(['A']);
  });

  it('buckets days on the Moscow wall clock when asked to', () => {
    const result = applyRetention(snapshots, { daily: 2 }, { now: NOW, timeZone: 'Europe/Moscow' });
    expect(keptIds(result)).toEqual(['C', 'A']);
    expect(removedIds(result)).toEqual(['B']);
  });

  it('treats the repeated hour of a daylight-saving fall-back as one hour', () => {
    // New York, 2024-11-03: 01:10 EDT, 01:50 EDT, 01:20 EST, 02:15 EST.
    const night = [
      snap('edt-0110', '2024-11-03T05:10:00Z'),
      snap('edt-0150', '2024-11-03T05:50:00Z'),
      snap('est-0120', '2024-11-03T06:20:00Z'),
      snap('est-0215', '2024-11-03T07:15:00Z'),
    ];
    const newYork = applyRetention(night, { hourly: 3 }, { now: NOW, timeZone: 'America/New_York' });
    expect(keptIds(newYork)).toEqual(['est-0215', 'est-0120']);
    const utc = applyRetention(night, { hourly: 3 }, atNow);
    expect(keptIds(utc)).toEqual(['est-0215', 'est-0120', 'edt-0150']);
  });

  it('rejects an unknown time zone', () => {
    expect(() => applyRetention(snapshots, { daily: 1 }, { now: NOW, timeZone: 'Europe/Atlantis' })).toThrow(
      PolicyError,
    );
  });
});

describe('applyRetention: within', () => {
  const cutoff = Date.parse('2024-05-31T12:00:00Z'); // the newest snapshot minus 30 days
  const snapshots = [
    snap('old', '2024-01-01T00:00:00Z'),
    snap('at-cutoff', new Date(cutoff).toISOString()),
    snap('just-after', new Date(cutoff + 1).toISOString()),
    snap('recent', '2024-06-29T00:00:00Z'),
    snap('newest', '2024-06-30T12:00:00Z'),
  ];

  it('keeps every snapshot strictly newer than the newest one minus the duration', () => {
    const result = applyRetention(
      snapshots,
      { within: parseDuration('30d') },
      { now: new Date('2025-03-01T00:00:00Z') },
    );
    expect(keptIds(result)).toEqual(['newest', 'recent', 'just-after']);
    expect(removedIds(result)).toEqual(['at-cutoff', 'old']);
    expect(reasonsOf(result, 'recent')).toEqual(['within 30d']);
  });

  it('counts months by the calendar', () => {
    // 30 June minus 1 month is 30 May, a day before the 30-day cutoff.
    const result = applyRetention(snapshots, { within: parseDuration('1m') }, atNow);
    expect(keptIds(result)).toEqual(['newest', 'recent', 'just-after', 'at-cutoff']);
    expect(reasonsOf(result, 'at-cutoff')).toEqual(['within 1m']);
  });

  it('names weeks as days in the reason', () => {
    const result = applyRetention(snapshots, { within: parseDuration('2w') }, atNow);
    expect(reasonsOf(result, 'recent')).toEqual(['within 14d']);
  });

  it('counts back from the newest snapshot of the group, not from now (stopped backups keep their history)', () => {
    const stale = [
      snap('s0', '2024-02-01T00:00:00Z'),
      snap('s1', '2024-04-01T00:00:00Z'),
      snap('s2', '2024-04-02T00:00:00Z'),
    ];
    const result = applyRetention(stale, { within: parseDuration('30d') }, atNow);
    expect(keptIds(result)).toEqual(['s2', 's1']);
    expect(removedIds(result)).toEqual(['s0']);
  });
});

describe('applyRetention: tags', () => {
  const snapshots = [
    snap('plain', '2024-06-01T00:00:00Z'),
    snap('release', '2023-01-01T00:00:00Z', { tags: ['release'] }),
    snap('both', '2022-01-01T00:00:00Z', { tags: ['release', 'pre-upgrade'] }),
    snap('manual', '2024-05-01T00:00:00Z', { tags: ['manual'] }),
  ];

  it('keeps every snapshot carrying any of the tags, naming each matching tag', () => {
    const result = applyRetention(snapshots, { tags: ['release', 'pre-upgrade'] }, atNow);
    expect(keptIds(result)).toEqual(['release', 'both']);
    expect(removedIds(result)).toEqual(['plain', 'manual']);
    expect(reasonsOf(result, 'both')).toEqual(['has tag release', 'has tag pre-upgrade']);
  });

  it('lists a tag given twice once', () => {
    const result = applyRetention(snapshots, { tags: ['release', 'release'] }, atNow);
    expect(reasonsOf(result, 'release')).toEqual(['has tag release']);
  });
});

describe('applyRetention: reasons', () => {
  it('names every rule that keeps a snapshot, tags and within first, then counts in restic order', () => {
    const snapshots = [
      snap('old', '2024-06-01T00:00:00Z'),
      snap('newest', '2024-06-30T11:00:00Z', { tags: ['release'] }),
    ];
    const policy: RetentionPolicy = {
      last: 1,
      hourly: 1,
      daily: 1,
      weekly: 1,
      monthly: 1,
      yearly: 1,
      within: parseDuration('1d'),
      tags: ['release'],
    };
    const result = applyRetention(snapshots, policy, atNow);
    expect(reasonsOf(result, 'newest')).toEqual([
      'has tag release',
      'within 1d',
      'last snapshot',
      'hourly snapshot',
      'daily snapshot',
      'weekly snapshot',
      'monthly snapshot',
      'yearly snapshot',
    ]);
    expect(removedIds(result)).toEqual(['old']);
  });
});

describe('applyRetention: groups', () => {
  const postgres = [
    snap('pg1', '2024-06-01T00:00:00Z', { group: 'postgres' }),
    snap('pg2', '2024-06-02T00:00:00Z', { group: 'postgres' }),
    snap('pg3', '2024-06-03T00:00:00Z', { group: 'postgres' }),
  ];
  const saves = [
    snap('gs1', '2020-01-01T00:00:00Z', { group: 'game-saves' }),
    snap('gs2', '2020-01-01T06:00:00Z', { group: 'game-saves' }),
  ];

  it('applies the policy to each group on its own and reports groups in name order', () => {
    const result = applyRetention([...postgres, ...saves], { last: 1 }, atNow);
    expect(keptIds(result)).toEqual(['gs2', 'pg3']);
    expect(removedIds(result)).toEqual(['gs1', 'pg2', 'pg1']);
  });

  it('gives a group the same verdict whether or not other groups are present', () => {
    const policy: RetentionPolicy = { daily: 2, monthly: 1 };
    const alone = applyRetention(postgres, policy, atNow);
    const together = applyRetention([...saves, ...postgres], policy, atNow);
    const inGroup = (s: SnapshotForRetention) => s.group === 'postgres';
    expect(together.keep.filter((k) => inGroup(k.snapshot))).toEqual(alone.keep);
    expect(together.remove.filter(inGroup)).toEqual(alone.remove);
  });
});

describe('applyRetention: determinism', () => {
  it('breaks ties between equal times by id, whatever the input order', () => {
    const time = '2024-06-01T00:00:00Z';
    const forward = applyRetention([snap('a', time), snap('b', time), snap('c', time)], { last: 1 }, atNow);
    const backward = applyRetention([snap('c', time), snap('b', time), snap('a', time)], { last: 1 }, atNow);
    expect(keptIds(forward)).toEqual(['a']);
    expect(backward).toEqual(forward);
  });

  it('returns nothing for no snapshots', () => {
    expect(applyRetention([], { last: 1 }, atNow)).toEqual({ keep: [], remove: [] });
  });
});

describe('refusals', () => {
  it.each<[string, RetentionPolicy]>([
    ['no rule', {}],
    ['only zero counts', { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0 }],
    ['a zero within', { within: ZERO_DURATION }],
    ['an empty tag list', { tags: [] }],
  ])('refuses a policy with %s instead of removing everything', (_, policy) => {
    const everything = [snap('a', '2024-06-01T00:00:00Z')];
    expect(() => applyRetention(everything, policy, atNow)).toThrow(PolicyError);
    expect(() => applyRetention(everything, policy, atNow)).toThrow(EMPTY_POLICY_MESSAGE);
    expect(() => applyRetention([], policy, atNow)).toThrow(EMPTY_POLICY_MESSAGE);
    expect(() => validateRetentionPolicy(policy)).toThrow(EMPTY_POLICY_MESSAGE);
  });

  it.each<[RetentionPolicy, string]>([
    [{ last: -1 }, '--keep-last must be a whole number ≥ 0, got -1'],
    [{ daily: -3, last: 1 }, '--keep-daily must be a whole number ≥ 0, got -3'],
    [{ weekly: 1.5 }, '--keep-weekly must be a whole number ≥ 0, got 1.5'],
    [{ monthly: Number.NaN }, '--keep-monthly must be a whole number ≥ 0, got NaN'],
    [{ yearly: Number.POSITIVE_INFINITY }, '--keep-yearly must be a whole number ≥ 0, got Infinity'],
    [{ within: { years: 0, months: 0, days: -1, hours: 0 } }, '--keep-within: invalid duration'],
    [{ tags: [''] }, '--keep-tag must name a tag'],
    [{ tags: ['release', ' '], last: 1 }, '--keep-tag must name a tag'],
  ])('rejects %j', (policy, message) => {
    expect(() => validateRetentionPolicy(policy)).toThrow(PolicyError);
    expect(() => validateRetentionPolicy(policy)).toThrow(message);
    expect(() => applyRetention([], policy, atNow)).toThrow(message);
  });

  it('accepts a policy with one rule', () => {
    expect(() => validateRetentionPolicy({ hourly: 1 })).not.toThrow();
    expect(() => validateRetentionPolicy({ within: parseDuration('1h') })).not.toThrow();
    expect(() => validateRetentionPolicy({ tags: ['release'] })).not.toThrow();
  });

  it('refuses a snapshot with an invalid time, naming it, rather than guessing', () => {
    const broken = { ...snap('deadbeef', '2024-06-01T00:00:00Z'), time: new Date(Number.NaN) };
    expect(() => applyRetention([broken], { last: 1 }, atNow)).toThrow(
      'snapshot deadbeef has an invalid time',
    );
  });

  it('refuses an invalid now', () => {
    expect(() => applyRetention([], { last: 1 }, { now: new Date(Number.NaN) })).toThrow(PolicyError);
  });
});
