/**
 * Five-field cron (the stage table's and the configuration's: `minute hour day-of-month month day-of-week`,
 * day of week 0–7 with 0 and 7 Sunday) to a Yandex Cloud timer's six fields, `minute hour day-of-month
 * month day-of-week year`, read in UTC. Yandex's form is Quartz's without seconds: day of week 1–7 counts
 * from Sunday (SUN–SAT), and exactly one of day-of-month and day-of-week is `?`
 * (https://yandex.cloud/en/docs/functions/concepts/trigger/timer).
 *
 * Days of week are written as names (MON,TUE,…), which both dialects read the same way, so no number is
 * shifted by one by mistake. The two day fields keep Vixie cron's meaning: a day must match both when
 * either field starts with `*`, otherwise either. A cron that restricts both cannot be said with one `?`,
 * so it is refused rather than narrowed.
 */
import { CronExpressionParser } from 'cron-parser';
import { validateCron } from '../../pipeline/config/schedule';

/** A cron a Yandex timer cannot express. */
export class CronConversionError extends Error {
  override readonly name = 'CronConversionError';
}

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'] as const;
const DAYS_IN_WEEK = DAY_NAMES.length;
const DAYS_IN_MONTH = 31;
/** The first value of each field, which a `*` step starts from (`*` + `/15` → `0/15`). */
const FIELD_START = { minute: 0, hour: 0, dayOfMonth: 1, month: 1 } as const;
/** Quartz characters standard cron lacks; cron-parser reads some of them, a five-field cron must not use them. */
const QUARTZ_ONLY = /[LW#?]/i;
/** Month and day names, which are standard (and contain L and W: jul, wed). */
const NAMES = /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)\b/gi;

/** The Yandex timer form of a five-field UTC cron, e.g. `0 3 * * *` → `0 3 * * ? *`. */
export function toYandexCron(cron: string): string {
  validateCron(cron, 'UTC');
  const [minute, hour, dayOfMonth, month, dayOfWeek] = cron.trim().split(/\s+/) as [
    string,
    string,
    string,
    string,
    string,
  ];
  for (const [name, field] of Object.entries({ minute, hour, dayOfMonth, month, dayOfWeek }))
    if (QUARTZ_ONLY.test(field.replace(NAMES, '')))
      throw new CronConversionError(
        `"${cron}": ${name} "${field}" is not five-field cron (L, W, # and ? are not)`,
      );

  const { days, allMonthDays } = dayFields(cron);
  const allWeekDays = days.length === DAYS_IN_WEEK;
  // Vixie cron: when either day field starts with `*` a day must match both, otherwise either.
  const matchBoth = dayOfMonth.startsWith('*') || dayOfWeek.startsWith('*');
  let yandexDays: [string, string];
  const everyDay = matchBoth ? allMonthDays && allWeekDays : allMonthDays || allWeekDays;
  if (everyDay) yandexDays = ['*', '?'];
  else if (matchBoth && allWeekDays) yandexDays = [startStep(dayOfMonth, FIELD_START.dayOfMonth), '?'];
  else if (matchBoth && allMonthDays) yandexDays = ['?', days.map((d) => DAY_NAMES[d]).join(',')];
  else
    throw new CronConversionError(
      `"${cron}" restricts both the day of month and the day of week; a Yandex timer restricts only one of them (the other is "?"): split it into two schedules`,
    );
  return [
    startStep(minute, FIELD_START.minute),
    startStep(hour, FIELD_START.hour),
    yandexDays[0],
    startStep(month, FIELD_START.month).toUpperCase(),
    yandexDays[1],
    '*',
  ].join(' ');
}

/** The days of week (0 = Sunday … 6) a cron allows, each once, in order; and whether it allows every day of month. */
function dayFields(cron: string): { days: number[]; allMonthDays: boolean } {
  const fields = CronExpressionParser.parse(cron, { tz: 'UTC' }).fields;
  const days = [...new Set(fields.dayOfWeek.values.map((d) => Number(d) % DAYS_IN_WEEK))].sort(
    (a, b) => a - b,
  );
  return { days, allMonthDays: new Set(fields.dayOfMonth.values).size === DAYS_IN_MONTH };
}

/** `*` steps written from the field's first value (`*` + `/5` → `0/5`), the form Yandex's docs show. */
function startStep(field: string, start: number): string {
  return field
    .split(',')
    .map((part) => (part.startsWith('*/') ? `${start}${part.slice(1)}` : part))
    .join(',');
}
