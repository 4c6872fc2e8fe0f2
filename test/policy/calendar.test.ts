import fc from 'fast-check';
import { calendarBuckets, civilTime, isoWeek, validateTimeZone } from '../../lib/policy/calendar';
import { PolicyError } from '../../lib/policy/errors';
import { KOLKATA_OFFSET_MINUTES, MOSCOW_OFFSET_MINUTES } from './fixtures';

const MS_PER_MINUTE = 60_000;
const FIXED_OFFSETS_SINCE = new Date('2015-01-01T00:00:00Z');
const FIXED_OFFSETS_UNTIL = new Date('2035-01-01T00:00:00Z');

describe('isoWeek', () => {
  it.each([
    [2024, 12, 30, 2025, 1],
    [2024, 12, 29, 2024, 52],
    [2021, 1, 3, 2020, 53],
    [2020, 12, 31, 2020, 53],
    [2021, 1, 4, 2021, 1],
    [2026, 1, 1, 2026, 1],
    [2027, 1, 1, 2026, 53],
  ])('%i-%i-%i is in %i week %i', (year, month, day, weekYear, week) => {
    expect(isoWeek(year, month, day)).toEqual({ year: weekYear, week });
  });
});

describe('civilTime', () => {
  it('reads the wall clock of the given zone, not of this machine', () => {
    const instant = new Date('2024-03-10T22:30:00Z');
    expect(civilTime(instant, 'UTC')).toEqual({ year: 2024, month: 3, day: 10, hour: 22 });
    expect(civilTime(instant, 'Europe/Moscow')).toEqual({ year: 2024, month: 3, day: 11, hour: 1 });
    expect(civilTime(instant, 'America/Los_Angeles')).toEqual({ year: 2024, month: 3, day: 10, hour: 15 });
  });

  it('counts years before 1 AD astronomically, so they never share a bucket with AD years', () => {
    const oneBc = new Date(0);
    oneBc.setUTCFullYear(0, 5, 1);
    expect(civilTime(oneBc, 'UTC').year).toBe(0);
  });

  it('agrees with the Date UTC getters in UTC', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true }), (date) => {
        expect(civilTime(date, 'UTC')).toEqual({
          year: date.getUTCFullYear(),
          month: date.getUTCMonth() + 1,
          day: date.getUTCDate(),
          hour: date.getUTCHours(),
        });
      }),
    );
  });

  it.each([
    ['Europe/Moscow', MOSCOW_OFFSET_MINUTES],
    ['Asia/Kolkata', KOLKATA_OFFSET_MINUTES],
  ])('agrees with a fixed offset in %s', (zone, offsetMinutes) => {
    fc.assert(
      fc.property(
        fc.date({ min: FIXED_OFFSETS_SINCE, max: FIXED_OFFSETS_UNTIL, noInvalidDate: true }),
        (date) => {
          const shifted = new Date(date.getTime() + offsetMinutes * MS_PER_MINUTE);
          expect(civilTime(date, zone)).toEqual(civilTime(shifted, 'UTC'));
        },
      ),
    );
  });
});

describe('calendarBuckets', () => {
  it('puts the two 01:xx hours of a fall-back night in one local hour bucket', () => {
    // New York left daylight saving at 2024-11-03 06:00Z: 01:00-01:59 happened twice.
    const firstPass = calendarBuckets(new Date('2024-11-03T05:30:00Z'), 'America/New_York');
    const secondPass = calendarBuckets(new Date('2024-11-03T06:30:00Z'), 'America/New_York');
    expect(firstPass.hour).toBe(secondPass.hour);
    expect(calendarBuckets(new Date('2024-11-03T05:30:00Z'), 'UTC').hour).not.toBe(
      calendarBuckets(new Date('2024-11-03T06:30:00Z'), 'UTC').hour,
    );
  });

  it('starts the week on Monday in the given zone', () => {
    // Sunday 23:30 in UTC is already Monday 02:30 in Moscow.
    const sundayNight = new Date('2024-03-10T23:30:00Z');
    const mondayMorning = new Date('2024-03-11T06:00:00Z');
    expect(calendarBuckets(sundayNight, 'UTC').week).not.toBe(calendarBuckets(mondayMorning, 'UTC').week);
    expect(calendarBuckets(sundayNight, 'Europe/Moscow').week).toBe(
      calendarBuckets(mondayMorning, 'Europe/Moscow').week,
    );
  });
});

describe('validateTimeZone', () => {
  it('accepts IANA names and rejects anything else with PolicyError', () => {
    expect(() => validateTimeZone('Europe/Moscow')).not.toThrow();
    expect(() => validateTimeZone('Mars/Olympus_Mons')).toThrow(PolicyError);
    expect(() => validateTimeZone('Mars/Olympus_Mons')).toThrow('unknown time zone "Mars/Olympus_Mons"');
    expect(() => validateTimeZone('')).toThrow(PolicyError);
  });
});
