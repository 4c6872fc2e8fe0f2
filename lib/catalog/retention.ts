/**
 * How long finished jobs stay in the catalog. A job that succeeded, failed or was cancelled is pruned once
 * it ended longer ago than the retention period (`catalog.keepFinishedJobs` in zapas.yaml); jobs not
 * finished, source state (the recovery point), legal holds and schedule slots are never pruned. The
 * repository, not the catalog, is the record of backups, so a pruned job loses no backup.
 */
import { type Duration, parseDuration, subtractDuration } from '../policy/duration';

/** The retention period when the configuration names none. */
export const DEFAULT_KEEP_FINISHED_JOBS = '30d';

/** The shortest period accepted: a job's outcome stays readable (API, `after` dependencies) a day at least. */
export const MIN_KEEP_FINISHED_JOBS_HOURS = 24;
/** The longest period accepted, in days (100 years): longer is keeping forever, and overflows a TTL. */
export const MAX_KEEP_FINISHED_JOBS_DAYS = 36_600;

const HOURS_PER_DAY = 24;
const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = HOURS_PER_DAY * MS_PER_HOUR;
const MONTHS_PER_YEAR = 12;
/** The longest calendar month: an upper bound of what one month of a duration spans. */
const MAX_DAYS_PER_MONTH = 31;

/** The default period, parsed. */
export const DEFAULT_JOB_RETENTION: Duration = parseDuration(DEFAULT_KEEP_FINISHED_JOBS);

/** What is wrong with `text` as a retention period, or undefined when it is a valid one. */
export function jobRetentionProblem(text: string): string | undefined {
  let d: Duration;
  try {
    d = parseDuration(text);
  } catch (err) {
    return (err as Error).message;
  }
  const hours = d.hours + HOURS_PER_DAY * d.days;
  if (d.years === 0 && d.months === 0 && hours < MIN_KEEP_FINISHED_JOBS_HOURS)
    return `${text} is shorter than a day: finished jobs are kept a day at least, so that their outcome can be read`;
  if (spanMs(d) > MAX_KEEP_FINISHED_JOBS_DAYS * MS_PER_DAY)
    return `${text} is longer than ${MAX_KEEP_FINISHED_JOBS_DAYS} days (100 years)`;
  return undefined;
}

/** The instant before which a finished job is pruned at `now`: `keep` before it, by the UTC calendar. */
export function pruneBefore(now: Date, keep: Duration): Date {
  return subtractDuration(now, keep);
}

/**
 * Epoch seconds from which a store's own sweeper (DynamoDB/YDB TTL) may delete a job that ended at
 * `endedAt`. It is never earlier than the moment pruneBefore() passes `endedAt`: going back M calendar
 * months moves at most 31·M days (subtractDuration clamps the day into a shorter month, which only adds
 * to the months' own lengths up to 31 days each), so endedAt plus that bound is late enough. For a
 * period of days and hours it is exact.
 */
export function prunableAtSeconds(endedAt: string, keep: Duration): number {
  return Math.ceil((Date.parse(endedAt) + spanMs(keep)) / 1000);
}

/** The longest time `d` can span on the calendar, in milliseconds. */
function spanMs(d: Duration): number {
  const months = d.years * MONTHS_PER_YEAR + d.months;
  return (months * MAX_DAYS_PER_MONTH + d.days) * MS_PER_DAY + d.hours * MS_PER_HOUR;
}
