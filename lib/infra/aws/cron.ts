/**
 * Five-field cron (the stage table's and zapas.yaml's: minute hour day-of-month month day-of-week, UTC)
 * to EventBridge's six-field `cron(minutes hours day-of-month month day-of-week year)`.
 *
 * EventBridge differs in three ways (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html):
 * one of day-of-month and day-of-week must be `?`; day-of-week counts 1-7 from Sunday (cron: 0-7, 0 and
 * 7 Sunday); and day-of-week takes no `/` step. Each field is therefore expanded to the set of values it
 * matches and written back in EventBridge's syntax, so ranges that wrap past Saturday and steps come out
 * right. Vixie cron's rule for the two day fields is kept: when either starts with `*` a day must match
 * both, otherwise either; a schedule that needs both restricted cannot be expressed and is refused.
 */
import { CronConversionError } from './errors';

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** EventBridge accepts `start/step` in this field. */
  step: boolean;
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59, step: true };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23, step: true };
const DAY_OF_MONTH: FieldSpec = { name: 'day-of-month', min: 1, max: 31, step: true };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS, step: true };
/** Cron's day-of-week: 0-7, both ends Sunday. */
const DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: DAYS, step: false };
/** EventBridge's day-of-week: 1 (Sunday) to 7 (Saturday). */
const AWS_DAY_OF_WEEK: FieldSpec = { name: 'day-of-week', min: 1, max: 7, step: false };

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** EventBridge's schedule expression for a five-field cron, e.g. `0 3 * * 1-5` → `cron(0 3 ? * 2-6 *)`. */
export function awsCron(expression: string): string {
  const text = MACROS[expression.trim().toLowerCase()] ?? expression.trim();
  const fields = text.split(/\s+/);
  if (fields.length !== 5)
    throw new CronConversionError(
      `"${expression}": a cron has 5 fields (minute hour day-of-month month day-of-week), not ${fields.length}`,
    );
  const [minute, hour, dom, month, dow] = fields as [string, string, string, string, string];
  const fail = (why: string) => new CronConversionError(`"${expression}": ${why}`);
  const minutes = expand(minute, MINUTE, fail);
  const hours = expand(hour, HOUR, fail);
  const months = expand(month, MONTH, fail);
  const monthDays = expand(dom, DAY_OF_MONTH, fail);
  // Sunday is 0 or 7 in cron and 1 in EventBridge: fold 7 onto 0, then shift by one.
  const weekDays = new Set([...expand(dow, DAY_OF_WEEK, fail)].map((d) => (d % 7) + 1));
  const allMonthDays = monthDays.size === DAY_OF_MONTH.max - DAY_OF_MONTH.min + 1;
  const allWeekDays = weekDays.size === DAYS.length;
  const days = dayFields(dom.startsWith('*') || dow.startsWith('*'), allMonthDays, allWeekDays);
  if (!days)
    throw fail(
      'EventBridge takes either a day-of-month or a day-of-week, not both (one of them must be "?"): split it into two schedules',
    );
  const domText = days.dom === 'set' ? compress(monthDays, DAY_OF_MONTH) : days.dom;
  const dowText = days.dow === 'set' ? compress(weekDays, AWS_DAY_OF_WEEK) : days.dow;
  return `cron(${compress(minutes, MINUTE)} ${compress(hours, HOUR)} ${domText} ${compress(months, MONTH)} ${dowText} *)`;
}

type DayField = '*' | '?' | 'set';

/** Which day field carries the schedule and which is `?`; undefined when both would have to. */
function dayFields(
  matchBoth: boolean,
  allMonthDays: boolean,
  allWeekDays: boolean,
): { dom: DayField; dow: DayField } | undefined {
  if (allMonthDays && allWeekDays) return { dom: '*', dow: '?' };
  // Either-or with one field matching every day: every day matches.
  if (!matchBoth) return allMonthDays || allWeekDays ? { dom: '*', dow: '?' } : undefined;
  if (allMonthDays) return { dom: '?', dow: 'set' };
  if (allWeekDays) return { dom: 'set', dow: '?' };
  return undefined;
}

/** The values a cron field matches: lists of `*`, `n`, `a-b`, each optionally `/step`; names allowed. */
function expand(field: string, spec: FieldSpec, fail: (why: string) => Error): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const m = /^(\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:\/(\d+))?$/.exec(part);
    if (!m)
      throw fail(`${spec.name} "${part}" is not a value, a range or a step (L, W, # and ? are not cron)`);
    const [, range, stepText] = m as unknown as [string, string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw fail(`${spec.name} step "${stepText}" must be at least 1`);
    let from: number;
    let to: number;
    if (range === '*') [from, to] = [spec.min, spec.max];
    else {
      const [a, b] = range.split('-') as [string, string | undefined];
      from = value(a, spec, fail);
      // `n/step` runs from n to the field's end, as in Vixie cron.
      to = b === undefined ? (stepText === undefined ? from : spec.max) : value(b, spec, fail);
    }
    if (from > to) throw fail(`${spec.name} range "${range}" runs backwards`);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

function value(text: string, spec: FieldSpec, fail: (why: string) => Error): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  // Month names count from 1, day names from 0 (Sunday).
  const n = named >= 0 ? named + (spec === MONTH ? 1 : 0) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < spec.min || n > spec.max)
    throw fail(`${spec.name} "${text}" is outside ${spec.min}-${spec.max}`);
  return n;
}

/** A set written back as `*`, `start/step` (a progression that runs to the end), or a list of ranges. */
function compress(values: Set<number>, spec: FieldSpec): string {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === spec.max - spec.min + 1) return '*';
  const first = sorted[0]!;
  const step = (sorted[1] ?? first) - first;
  const progression =
    spec.step &&
    sorted.length >= 3 &&
    sorted.every((v, i) => v === first + i * step) &&
    sorted[sorted.length - 1]! + step > spec.max;
  if (progression) return `${first}/${step}`;
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
