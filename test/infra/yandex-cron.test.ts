import { CronExpressionParser } from 'cron-parser';
import { STAGES } from '../../lib/infra/stages';
import { CronConversionError, toYandexCron } from '../../lib/infra/yandex/cron';
import { CronError } from '../../lib/pipeline/config/schedule';

const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

describe('toYandexCron: five-field cron to a Yandex timer', () => {
  it.each([
    ['* * * * *', '* * * * ? *'],
    ['0 1 * * *', '0 1 * * ? *'],
    ['0 3 * * *', '0 3 * * ? *'],
    ['*/15 * * * *', '0/15 * * * ? *'],
    ['0 */4 * * *', '0 0/4 * * ? *'],
    ['30 2 1 * *', '30 2 1 * ? *'],
    ['0 0 */2 * *', '0 0 1/2 * ? *'],
    ['0 0 1,15 jan,jul *', '0 0 1,15 JAN,JUL ? *'],
    ['0 5 * * 0', '0 5 ? * SUN *'],
    ['0 5 * * 7', '0 5 ? * SUN *'],
    ['0 5 * * 1-5', '0 5 ? * MON,TUE,WED,THU,FRI *'],
    ['0 5 * * sat,sun', '0 5 ? * SUN,SAT *'],
    ['0 5 * * */2', '0 5 ? * SUN,TUE,THU,SAT *'],
    ['0 5 * * 5-7', '0 5 ? * SUN,FRI,SAT *'],
    // Vixie cron: a day must match both fields when either starts with `*`, otherwise either.
    ['0 5 */10 * */1', '0 5 1/10 * ? *'],
    ['0 5 * * */1', '0 5 * * ? *'],
    ['0 5 10 * 0-6', '0 5 * * ? *'],
    ['0 5 1-31 * 1', '0 5 * * ? *'],
  ])('%s → %s', (cron, yandex) => {
    expect(toYandexCron(cron)).toBe(yandex);
  });

  it('names exactly the days cron-parser reads, whatever the notation', () => {
    for (const dow of ['1', '0,3', '2-4', '*/3', '1-7/2', 'mon-wed', '6,0']) {
      const cron = `0 0 * * ${dow}`;
      const expected = [
        ...new Set(CronExpressionParser.parse(cron).fields.dayOfWeek.values.map((d) => Number(d) % 7)),
      ]
        .sort((a, b) => a - b)
        .map((d) => DAY_NAMES[d]);
      expect(toYandexCron(cron).split(' ')[4]).toBe(expected.join(','));
    }
  });

  it('always writes six fields with exactly one "?" day field', () => {
    for (const cron of ['* * * * *', '0 0 1 * *', '0 0 * * 1', '5 4 * 2 *']) {
      const fields = toYandexCron(cron).split(' ');
      expect(fields).toHaveLength(6);
      expect([fields[2], fields[4]].filter((f) => f === '?')).toHaveLength(1);
      expect(fields[5]).toBe('*');
    }
  });

  it('converts every schedule of the stage table', () => {
    const crons = STAGES.flatMap((s) => s.triggers.flatMap((t) => (t.kind === 'schedule' ? [t.cron] : [])));
    expect(crons.length).toBeGreaterThan(0);
    for (const cron of crons) expect(toYandexCron(cron)).toMatch(/^\S+ \S+ \S+ \S+ \S+ \*$/);
  });

  it('refuses a cron that restricts both day fields, saying to split it', () => {
    expect(() => toYandexCron('0 0 1 * 1')).toThrow(CronConversionError);
    expect(() => toYandexCron('0 0 1 * 1')).toThrow(/split it into two schedules/);
    expect(() => toYandexCron('0 0 */2 * 1')).toThrow(CronConversionError);
    expect(() => toYandexCron('0 0 1 * */2')).toThrow(CronConversionError);
  });

  it('refuses Quartz-only characters and what is not a five-field cron', () => {
    expect(() => toYandexCron('0 0 L * *')).toThrow(CronConversionError);
    expect(() => toYandexCron('0 0 ? * 1')).toThrow(CronConversionError);
    expect(() => toYandexCron('0 0 * * 5#2')).toThrow(CronConversionError);
    expect(() => toYandexCron('0 0 * * ? *')).toThrow(CronError);
    expect(() => toYandexCron('61 * * * *')).toThrow(CronError);
    expect(() => toYandexCron('not a cron')).toThrow(CronError);
  });
});
