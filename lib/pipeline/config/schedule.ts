/** Cron schedules in a time zone: validation and the next run after an instant. */
import { CronExpressionParser } from 'cron-parser';
import { validateTimeZone } from '../../policy/calendar';

/** A cron expression that is not one: says which part and why. */
export class CronError extends Error {
  override readonly name = 'CronError';
}

/**
 * Checks a five-field cron (minute hour day-of-month month day-of-week) in `timeZone`. Six-field and
 * `?` forms (Yandex timers, EventBridge) are what the deployment writers produce, not what users write.
 */
export function validateCron(expression: string, timeZone: string): void {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5)
    throw new CronError(
      `a cron has 5 fields (minute hour day-of-month month day-of-week), "${expression}" has ${fields.length}`,
    );
  validateTimeZone(timeZone);
  try {
    CronExpressionParser.parse(expression, { tz: timeZone });
  } catch (err) {
    throw new CronError(`"${expression}": ${(err as Error).message}`);
  }
}

/** The first time after `after` (strictly) at which `expression`, read in `timeZone`, fires. */
export function nextRun(expression: string, timeZone: string, after: Date): Date {
  validateCron(expression, timeZone);
  return CronExpressionParser.parse(expression, { tz: timeZone, currentDate: after }).next().toDate();
}
