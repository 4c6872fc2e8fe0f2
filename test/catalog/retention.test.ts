import fc from 'fast-check';
import {
  DEFAULT_KEEP_FINISHED_JOBS,
  jobRetentionProblem,
  prunableAtSeconds,
  pruneBefore,
} from '../../lib/catalog/retention';
import { ConfigError, parseConfig } from '../../lib/pipeline/config/load';
import type { Duration } from '../../lib/policy/duration';

const BASE = `version: 1
repositories:
  main: { url: ./repo, residency: RU }
sources:
  saves: { type: files, paths: [./saves], repository: main, dataClass: game-content }
`;

describe('the retention period of finished jobs', () => {
  it('is catalog.keepFinishedJobs in zapas.yaml, 30 days when absent', () => {
    expect(DEFAULT_KEEP_FINISHED_JOBS).toBe('30d');
    expect(parseConfig(BASE).catalog).toEqual({ keepFinishedJobs: '30d' });
    expect(parseConfig(`${BASE}catalog:\n  keepFinishedJobs: 1y6m\n`).catalog.keepFinishedJobs).toBe('1y6m');
  });

  it.each([
    ['thirty days', 'invalid duration "thirty days"'],
    ['12h', 'shorter than a day'],
    ['0d', 'shorter than a day'],
    ['101y', 'longer than 36600 days'],
  ])('refuses %s, naming the field and its line', (value, message) => {
    let issues: ConfigError['issues'] = [];
    try {
      parseConfig(`${BASE}catalog:\n  keepFinishedJobs: ${value}\n`, 'zapas.yaml');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues = err.issues;
    }
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'catalog.keepFinishedJobs',
        line: 7,
        message: expect.stringContaining(message),
      }),
    ]);
  });

  it('refuses an unknown field of the catalog section', () => {
    expect(() => parseConfig(`${BASE}catalog:\n  keepJobs: 30d\n`)).toThrow(
      /zapas.yaml:7:3: catalog.keepJobs: unknown field/,
    );
  });

  it('accepts a day and periods in months and years', () => {
    for (const ok of ['1d', '24h', '2w', '1m', '5y']) expect(jobRetentionProblem(ok)).toBeUndefined();
  });

  it("a store's TTL never deletes a job before the period has passed for it (any end, any period)", () => {
    const duration = fc.record({
      years: fc.integer({ min: 0, max: 5 }),
      months: fc.integer({ min: 0, max: 30 }),
      days: fc.integer({ min: 0, max: 400 }),
      hours: fc.integer({ min: 0, max: 100 }),
    });
    const ended = fc
      .integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') })
      .map((ms) => new Date(ms).toISOString());
    fc.assert(
      fc.property(ended, duration, (endedAt, keep: Duration) => {
        // The first instant the store may delete it (ttl < now): the period must have passed by then.
        const deletable = new Date((prunableAtSeconds(endedAt, keep) + 1) * 1000);
        return pruneBefore(deletable, keep).toISOString() > endedAt;
      }),
      { numRuns: 2000 },
    );
  });

  it('a period of days is exact: the TTL is the end plus the period', () => {
    const endedAt = '2026-03-31T12:00:00.000Z';
    const keep = { years: 0, months: 0, days: 30, hours: 0 };
    expect(prunableAtSeconds(endedAt, keep)).toBe(Date.parse('2026-04-30T12:00:00Z') / 1000);
  });
});
