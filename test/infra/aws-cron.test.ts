import fc from 'fast-check';
import { awsCron } from '../../lib/infra/aws/cron';
import { CronConversionError } from '../../lib/infra/aws/errors';
import { STAGES } from '../../lib/infra/stages';

/** The values a field matches, in the syntax both forms share: `*`, `?` (any), n, a-b, either with `/step`. */
function awsField(field: string, min: number, max: number): Set<number> | 'any' {
  if (field === '?') return 'any';
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const [range, step] = part.split('/') as [string, string | undefined];
    const [a, b] =
      range === '*' ? [min, max] : (range.split('-').map(Number) as [number, number | undefined]);
    const end = b ?? (step === undefined ? a : max);
    for (let v = a; v <= end; v += Number(step ?? 1)) out.add(v);
  }
  return out;
}

function fields(expression: string): string[] {
  const m = /^cron\((.*)\)$/.exec(expression);
  if (!m) throw new Error(`not a cron(...) expression: ${expression}`);
  return m[1]!.split(' ');
}

describe('five-field cron → EventBridge cron()', () => {
  it.each([
    ['* * * * *', 'cron(* * * * ? *)'],
    ['0 1 * * *', 'cron(0 1 * * ? *)'],
    ['*/15 * * * *', 'cron(0/15 * * * ? *)'],
    ['5,35 */6 * * *', 'cron(5,35 0/6 * * ? *)'],
    ['0 3 * * 1-5', 'cron(0 3 ? * 2-6 *)'],
    ['0 3 * * MON-FRI', 'cron(0 3 ? * 2-6 *)'],
    ['0 3 * * 0', 'cron(0 3 ? * 1 *)'],
    ['0 3 * * 7', 'cron(0 3 ? * 1 *)'],
    ['0 3 * * 5-7', 'cron(0 3 ? * 1,6-7 *)'],
    ['0 3 * * */2', 'cron(0 3 ? * 1,3,5,7 *)'],
    ['0 3 1 * *', 'cron(0 3 1 * ? *)'],
    ['0 0 */2 * *', 'cron(0 0 1/2 * ? *)'],
    ['0 3 * JAN,jul *', 'cron(0 3 * 1,7 ? *)'],
    ['0 3 1-31 * MON', 'cron(0 3 * * ? *)'],
    ['30 4 1 1 *', 'cron(30 4 1 1 ? *)'],
    ['@daily', 'cron(0 0 * * ? *)'],
    ['@weekly', 'cron(0 0 ? * 1 *)'],
  ])('%s → %s', (cron, expected) => {
    expect(awsCron(cron)).toBe(expected);
  });

  it("converts every schedule in the stage table, with exactly one '?' day field", () => {
    const crons = STAGES.flatMap((s) => s.triggers.flatMap((t) => (t.kind === 'schedule' ? [t.cron] : [])));
    expect(crons.length).toBeGreaterThan(0);
    for (const cron of crons) {
      const f = fields(awsCron(cron));
      expect(f).toHaveLength(6);
      expect([f[2], f[4]].filter((x) => x === '?')).toHaveLength(1);
    }
  });

  it.each([
    ['0 3 1 * 1', /either a day-of-month or a day-of-week/],
    ['0 3 */2 * 1-5', /either a day-of-month or a day-of-week/],
    ['60 * * * *', /minute "60" is outside 0-59/],
    ['0 24 * * *', /hour "24" is outside 0-23/],
    ['0 0 0 * *', /day-of-month "0" is outside 1-31/],
    ['0 0 * 13 *', /month "13" is outside 1-12/],
    ['0 0 * * 8', /day-of-week "8" is outside 0-7/],
    ['0 0 L * *', /day-of-month "L"/],
    ['0 0 * * 1#2', /day-of-week "1#2"/],
    ['0 0 ? * *', /day-of-month "\?"/],
    ['0 0 * * * *', /5 fields .* not 6/],
    ['0 0 *', /not 3/],
    ['*/0 * * * *', /step "0"/],
    ['0 5-1 * * *', /runs backwards/],
  ])('refuses %s', (cron, message) => {
    expect(() => awsCron(cron)).toThrow(CronConversionError);
    expect(() => awsCron(cron)).toThrow(message);
  });

  it('matches the same minutes, hours, days and months as the five-field form (property)', () => {
    const part = (min: number, max: number) =>
      fc.oneof(
        fc.constant('*'),
        fc.integer({ min, max }).map(String),
        fc
          .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
          .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
        fc.integer({ min: 1, max: max - min }).map((s) => `*/${s}`),
      );
    const field = (min: number, max: number) =>
      fc
        .array(part(min, max), { minLength: 1, maxLength: 3 })
        .map((p) => (p.includes('*') ? '*' : p.join(',')));
    const expandCron = (text: string, min: number, max: number) => awsField(text, min, max);
    fc.assert(
      fc.property(
        field(0, 59),
        field(0, 23),
        field(1, 12),
        fc.boolean(),
        field(1, 31),
        field(0, 7),
        (minute, hour, month, byWeek, dom, dow) => {
          // One day field restricted at a time: the form EventBridge can say.
          const [d, w] = byWeek ? ['*', dow] : [dom, '*'];
          const out = fields(awsCron(`${minute} ${hour} ${d} ${month} ${w}`));
          expect(out[5]).toBe('*');
          expect(awsField(out[0]!, 0, 59)).toEqual(expandCron(minute, 0, 59));
          expect(awsField(out[1]!, 0, 23)).toEqual(expandCron(hour, 0, 23));
          expect(awsField(out[3]!, 1, 12)).toEqual(expandCron(month, 1, 12));
          const expectedDays = expandCron(d, 1, 31);
          const weekDays = new Set([...(expandCron(w, 0, 7) as Set<number>)].map((x) => (x % 7) + 1));
          const domOut = awsField(out[2]!, 1, 31);
          const dowOut = awsField(out[4]!, 1, 7);
          expect(domOut === 'any' || dowOut === 'any').toBe(true);
          if (domOut !== 'any') expect(domOut).toEqual(expectedDays);
          if (dowOut !== 'any') expect(dowOut).toEqual(weekDays);
          else if (weekDays.size < 7) throw new Error(`day-of-week ${w} lost in ${out.join(' ')}`);
        },
      ),
    );
  });
});
