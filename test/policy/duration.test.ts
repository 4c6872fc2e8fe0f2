import fc from 'fast-check';
import {
  formatDuration,
  isZeroDuration,
  parseDuration,
  subtractDuration,
  ZERO_DURATION,
} from '../../lib/policy/duration';
import { PolicyError } from '../../lib/policy/errors';
import { durationArb } from './fixtures';

const ACCEPTED_FORM_HINT = 'e.g. 2y5m7d3h';
/** The earliest instant a Date can hold: 100,000,000 days before the epoch. */
const EARLIEST_DATE_MS = -8.64e15;

describe('parseDuration', () => {
  it.each([
    ['2y5m7d3h', { years: 2, months: 5, days: 7, hours: 3 }],
    ['30d', { years: 0, months: 0, days: 30, hours: 0 }],
    ['12h', { years: 0, months: 0, days: 0, hours: 12 }],
    ['1y', { years: 1, months: 0, days: 0, hours: 0 }],
    ['6m', { years: 0, months: 6, days: 0, hours: 0 }],
    ['2w', { years: 0, months: 0, days: 14, hours: 0 }],
    ['1w3d', { years: 0, months: 0, days: 10, hours: 0 }],
    ['3h1d', { years: 0, months: 0, days: 1, hours: 3 }],
    ['0d', ZERO_DURATION],
    ['007d', { years: 0, months: 0, days: 7, hours: 0 }],
  ])('reads %s', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
  });

  it.each([
    ['', 'it is empty'],
    ['d', 'unit "d" has no number'],
    ['30', 'the number 30 has no unit'],
    ['1x', 'unknown unit "x"'],
    ['1D', 'unknown unit "D"'],
    ['1M', 'unknown unit "M"'],
    ['-1d', 'negative'],
    ['1d-2h', 'negative'],
    ['1.5d', 'whole numbers'],
    ['1,5d', 'whole numbers'],
    ['1d1d', 'more than once'],
    ['+1d', 'unexpected "+"'],
    [' 1d', 'unexpected " "'],
    ['1d ', 'unexpected " " at position 3'],
    ['1e3d', 'unknown unit "e"'],
    ['99999999999999999999d', 'too large'],
  ])('rejects %j naming the text and the accepted form', (text, problem) => {
    const attempt = () => parseDuration(text);
    expect(attempt).toThrow(PolicyError);
    expect(attempt).toThrow(`invalid duration ${JSON.stringify(text)}`);
    expect(attempt).toThrow(problem);
    expect(attempt).toThrow(ACCEPTED_FORM_HINT);
  });

  it('reads back what formatDuration writes', () => {
    fc.assert(
      fc.property(durationArb, (d) => {
        expect(parseDuration(formatDuration(d))).toEqual(d);
      }),
    );
  });

  it('either parses or throws PolicyError, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[0-9ymwdhM.\- ]{0,12}$/)), (text) => {
        try {
          const d = parseDuration(text);
          for (const part of [d.years, d.months, d.days, d.hours]) {
            expect(Number.isSafeInteger(part) && part >= 0).toBe(true);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(PolicyError);
        }
      }),
    );
  });
});

describe('formatDuration', () => {
  it('writes parts in restic order, weeks as days, and zero as 0h', () => {
    expect(formatDuration(parseDuration('3h2y'))).toBe('2y3h');
    expect(formatDuration(parseDuration('2w'))).toBe('14d');
    expect(formatDuration(ZERO_DURATION)).toBe('0h');
    expect(isZeroDuration(parseDuration('0y0h'))).toBe(true);
  });
});

describe('subtractDuration', () => {
  const at = (iso: string) => new Date(iso);

  it.each([
    ['2024-05-15T10:00:00Z', '1m', '2024-04-15T10:00:00Z'],
    ['2024-01-15T10:00:00Z', '2m', '2023-11-15T10:00:00Z'],
    ['2024-03-31T12:00:00Z', '1m', '2024-02-29T12:00:00Z'],
    ['2023-03-31T12:00:00Z', '1m', '2023-02-28T12:00:00Z'],
    ['2024-02-29T00:30:00Z', '1y', '2023-02-28T00:30:00Z'],
    ['2024-03-31T12:00:00Z', '1y1m', '2023-02-28T12:00:00Z'],
    ['2024-03-01T01:00:00Z', '1d2h', '2024-02-28T23:00:00Z'],
    ['2024-03-10T12:00:00Z', '1w', '2024-03-03T12:00:00Z'],
    ['2024-01-01T00:00:00Z', '30d', '2023-12-02T00:00:00Z'],
  ])('%s minus %s is %s (calendar months, clamped to the month end)', (from, text, expected) => {
    expect(subtractDuration(at(from), parseDuration(text))).toEqual(at(expected));
  });

  it('keeps milliseconds', () => {
    expect(subtractDuration(at('2024-05-15T10:00:00.123Z'), parseDuration('1h')).toISOString()).toBe(
      '2024-05-15T09:00:00.123Z',
    );
  });

  it('clamps a result before the earliest Date to the earliest Date instead of an invalid one', () => {
    const result = subtractDuration(at('2024-01-01T00:00:00Z'), parseDuration('999999y'));
    expect(Number.isNaN(result.getTime())).toBe(false);
    expect(result.getTime()).toBe(EARLIEST_DATE_MS);
  });

  it('rejects an invalid date and a duration with negative or fractional parts', () => {
    expect(() => subtractDuration(new Date(Number.NaN), ZERO_DURATION)).toThrow(PolicyError);
    expect(() => subtractDuration(at('2024-01-01T00:00:00Z'), { ...ZERO_DURATION, days: -1 })).toThrow(
      PolicyError,
    );
    expect(() => subtractDuration(at('2024-01-01T00:00:00Z'), { ...ZERO_DURATION, hours: 0.5 })).toThrow(
      'hours must be a whole number',
    );
  });

  it('never moves forward and is monotone in each part', () => {
    fc.assert(
      fc.property(
        fc.date({ min: at('1990-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        durationArb,
        fc.constantFrom('years', 'months', 'days', 'hours'),
        (date, d, part: 'years' | 'months' | 'days' | 'hours') => {
          const earlier = subtractDuration(date, d);
          expect(earlier.getTime()).toBeLessThanOrEqual(date.getTime());
          const longer = subtractDuration(date, { ...d, [part]: d[part] + 1 });
          expect(longer.getTime()).toBeLessThanOrEqual(earlier.getTime());
        },
      ),
    );
  });
});
