/**
 * Calendar buckets (hour, day, ISO week, month, year) of an instant as seen in an IANA time zone.
 * The wall clock comes from Intl.DateTimeFormat with an explicit zone, never from the machine's local
 * time, so `forget` gives the same answer on a laptop in Moscow and on a Lambda in UTC.
 */
import { PolicyError } from './errors';

/** The time zone buckets use when none is given. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** The wall-clock reading of an instant in some time zone; `year` is astronomical (1 BC is 0). */
export interface CivilTime {
  readonly year: number;
  /** 1 = January. */
  readonly month: number;
  readonly day: number;
  /** 0-23. */
  readonly hour: number;
}

/** Bucket keys of one instant; two instants share a bucket exactly when their keys are equal. */
export interface CalendarBuckets {
  readonly hour: string;
  readonly day: string;
  readonly week: string;
  readonly month: string;
  readonly year: string;
}

const DAYS_PER_WEEK = 7;
const MS_PER_DAY = 86_400_000;
/** ISO 8601 weeks belong to the year that holds their Thursday; Monday is day 0 here, Thursday day 3. */
const ISO_THURSDAY_OFFSET_DAYS = 3;
/** Date#getUTCDay counts from Sunday = 0; ISO weeks start on Monday. */
const SUNDAY_FIRST_TO_MONDAY_FIRST = 6;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const cached = formatters.get(timeZone);
  if (cached !== undefined) return cached;
  let formatter: Intl.DateTimeFormat;
  try {
    // 'en-US' with the latn digits and an explicit era makes the parts plain ASCII numbers whatever
    // the process locale is; h23 avoids the "24 o'clock" that hour12: false gives in some engines.
    formatter = new Intl.DateTimeFormat('en-US-u-nu-latn', {
      timeZone,
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      hourCycle: 'h23',
    });
  } catch (cause) {
    throw new PolicyError(
      `unknown time zone ${JSON.stringify(timeZone)}: expected an IANA name such as UTC or Europe/Moscow`,
      { cause },
    );
  }
  formatters.set(timeZone, formatter);
  return formatter;
}

/** Throws PolicyError unless `timeZone` is an IANA time zone name this runtime knows. */
export function validateTimeZone(timeZone: string): void {
  formatterFor(timeZone);
}

/** The wall-clock year, month, day and hour of `instant` in `timeZone`. */
export function civilTime(instant: Date, timeZone: string): CivilTime {
  const fields: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant)) fields[part.type] = part.value;
  const eraYear = Number(fields.year);
  return {
    // Years before 1 AD come back as positive numbers with era BC: 1 BC is year 0, 2 BC is -1.
    year: fields.era === 'BC' ? 1 - eraYear : eraYear,
    month: Number(fields.month),
    day: Number(fields.day),
    hour: Number(fields.hour),
  };
}

/** The ISO 8601 week-numbering year and week (1-53) of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  const mondayBasedWeekday = (date.getUTCDay() + SUNDAY_FIRST_TO_MONDAY_FIRST) % DAYS_PER_WEEK;
  const thursday = new Date(date.getTime() + (ISO_THURSDAY_OFFSET_DAYS - mondayBasedWeekday) * MS_PER_DAY);
  const weekYear = thursday.getUTCFullYear();
  const januaryFirst = new Date(0);
  januaryFirst.setUTCFullYear(weekYear, 0, 1);
  const week = Math.floor((thursday.getTime() - januaryFirst.getTime()) / (DAYS_PER_WEEK * MS_PER_DAY)) + 1;
  return { year: weekYear, week };
}

/** The hour, day, ISO week, month and year buckets `instant` falls in, on the wall clock of `timeZone`. */
export function calendarBuckets(instant: Date, timeZone: string): CalendarBuckets {
  const { year, month, day, hour } = civilTime(instant, timeZone);
  const week = isoWeek(year, month, day);
  return {
    hour: `${year}-${month}-${day}T${hour}`,
    day: `${year}-${month}-${day}`,
    week: `${week.year}-W${week.week}`,
    month: `${year}-${month}`,
    year: `${year}`,
  };
}
