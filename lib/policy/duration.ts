/**
 * Calendar durations as restic writes them for `forget --keep-within`: `2y5m7d3h`, `30d`, `12h`.
 * A duration is a count of calendar units, not a number of milliseconds, because "one month before
 * 31 March" depends on the calendar; it is turned into an instant only by `subtractDuration`.
 */
import { PolicyError } from './errors';

/** A calendar duration: whole, non-negative years, months, days and hours. Weeks are stored as 7 days. */
export interface Duration {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

/** The duration of length zero; `within` set to it is no rule at all (as restic's `Duration.Zero`). */
export const ZERO_DURATION: Duration = Object.freeze({ years: 0, months: 0, days: 0, hours: 0 });

const DAYS_PER_WEEK = 7;
const MONTHS_PER_YEAR = 12;
const MS_PER_HOUR = 3_600_000;
const HOURS_PER_DAY = 24;
// UTC has no daylight-saving shifts, so a UTC calendar day is always 24 hours.
const MS_PER_DAY = HOURS_PER_DAY * MS_PER_HOUR;
/** The earliest instant a JavaScript Date can hold (ECMA-262 §21.4.1.1): -100,000,000 days from the epoch. */
const EARLIEST_DATE_MS = -100_000_000 * MS_PER_DAY;

/** What the user is told a duration should look like, in every parse error. */
const ACCEPTED_FORM =
  'expected whole numbers each followed by a unit y (years), m (months), w (weeks), d (days) or h (hours), ' +
  'e.g. 2y5m7d3h, 30d or 12h';

type Unit = 'y' | 'm' | 'w' | 'd' | 'h';
const UNITS: ReadonlySet<string> = new Set<Unit>(['y', 'm', 'w', 'd', 'h']);

/** One `<digits><letter>` part; sticky so parts must follow each other with nothing in between. */
const PART_PATTERN = /(\d+)(\D?)/y;

function invalid(text: string, problem: string): PolicyError {
  return new PolicyError(`invalid duration ${JSON.stringify(text)}: ${problem}; ${ACCEPTED_FORM}`);
}

/**
 * Parses a restic-style duration such as `2y5m7d3h`; `m` is months, `w` adds 7 days.
 * Units may come in any order but each at most once. Throws PolicyError for anything else.
 */
export function parseDuration(text: string): Duration {
  if (text.length === 0) throw invalid(text, 'it is empty');
  const parts = new Map<Unit, number>();
  let position = 0;
  while (position < text.length) {
    PART_PATTERN.lastIndex = position;
    const match = PART_PATTERN.exec(text);
    if (match === null) {
      const char = text.charAt(position);
      if (char === '-') throw invalid(text, 'negative parts are not allowed');
      if (UNITS.has(char)) throw invalid(text, `unit "${char}" has no number before it`);
      throw invalid(text, `unexpected ${JSON.stringify(char)} at position ${position + 1}`);
    }
    const [whole, digits = '', unit = ''] = match;
    if (unit === '') throw invalid(text, `the number ${digits} has no unit after it`);
    if (unit === '.' || unit === ',') throw invalid(text, 'parts must be whole numbers');
    if (!UNITS.has(unit)) throw invalid(text, `unknown unit ${JSON.stringify(unit)} after ${digits}`);
    if (parts.has(unit as Unit)) throw invalid(text, `unit "${unit}" appears more than once`);
    const value = Number(digits);
    if (!Number.isSafeInteger(value)) throw invalid(text, `${digits} is too large`);
    parts.set(unit as Unit, value);
    position += whole.length;
  }
  const days = (parts.get('d') ?? 0) + (parts.get('w') ?? 0) * DAYS_PER_WEEK;
  if (!Number.isSafeInteger(days)) throw invalid(text, 'the number of days is too large');
  return { years: parts.get('y') ?? 0, months: parts.get('m') ?? 0, days, hours: parts.get('h') ?? 0 };
}

/** Writes a duration the way restic prints it (`2y5m7d3h`, zero parts left out; weeks appear as days). */
export function formatDuration(d: Duration): string {
  const text = `${d.years ? `${d.years}y` : ''}${d.months ? `${d.months}m` : ''}${d.days ? `${d.days}d` : ''}${
    d.hours ? `${d.hours}h` : ''
  }`;
  return text === '' ? '0h' : text;
}

/** Throws PolicyError unless every part of `d` is a whole number ≥ 0 (parseDuration's output always is). */
export function validateDuration(d: Duration): void {
  for (const [name, value] of Object.entries({
    years: d.years,
    months: d.months,
    days: d.days,
    hours: d.hours,
  })) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new PolicyError(
        `invalid duration: ${name} must be a whole number ≥ 0, got ${value}; ${ACCEPTED_FORM}`,
      );
    }
  }
}

/** True when every part of the duration is zero. */
export function isZeroDuration(d: Duration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

function daysInMonthUtc(year: number, monthIndex: number): number {
  const probe = new Date(0);
  // Day 0 of the next month is the last day of this one; setUTCFullYear, unlike Date.UTC, leaves
  // years 0-99 alone.
  probe.setUTCFullYear(year, monthIndex + 1, 0);
  return probe.getUTCDate();
}

/**
 * The instant `d` before `date`, by the UTC calendar: years and months move the calendar month and
 * keep the day of the month, clamped to the month's last day (31 March minus 1m is 28 or 29 February,
 * where Go's AddDate would overflow to 2 or 3 March; clamping only ever moves the result earlier, so a
 * `within` rule keeps slightly more, never less). Days and hours are then taken off as 24 h and 1 h.
 * A result before the earliest representable Date is clamped to that earliest Date.
 */
export function subtractDuration(date: Date, d: Duration): Date {
  const start = date.getTime();
  if (Number.isNaN(start)) throw new PolicyError('cannot subtract a duration from an invalid date');
  validateDuration(d);
  const monthIndex =
    date.getUTCFullYear() * MONTHS_PER_YEAR + date.getUTCMonth() - d.years * MONTHS_PER_YEAR - d.months;
  const year = Math.floor(monthIndex / MONTHS_PER_YEAR);
  const month = monthIndex - year * MONTHS_PER_YEAR;
  const shifted = new Date(start);
  shifted.setUTCFullYear(year, month, Math.min(date.getUTCDate(), daysInMonthUtc(year, month)));
  const result = new Date(shifted.getTime() - d.days * MS_PER_DAY - d.hours * MS_PER_HOUR);
  return Number.isNaN(result.getTime()) ? new Date(EARLIEST_DATE_MS) : result;
}
