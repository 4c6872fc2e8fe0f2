import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../lib/pipeline/config/load';
import { nextRun } from '../../lib/pipeline/config/schedule';
import { runCli } from '../support/cli';
import { makeTempDir } from '../support/temp';

const SAMPLE = join(__dirname, '..', '..', 'examples', 'zapas.yaml');

/** The problems a configuration text has, as `path@line: message`. */
function problems(text: string): string[] {
  try {
    parseConfig(text, 'zapas.yaml');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}@${i.line ?? '-'}: ${i.message}`);
  }
  return [];
}

const BASE = `version: 1
repositories:
  main:
    url: ./repo
    residency: RU
sources:
  saves:
    type: files
    paths: [./saves]
    repository: main
    dataClass: game-content
`;

describe('configuration', () => {
  it('reads the sample with its defaults filled in', async () => {
    const config = await loadConfigFile(SAMPLE);
    expect(Object.keys(config.sources)).toEqual(['saves', 'catalogue', 'payments']);
    const payments = config.sources.payments!;
    expect(payments.type).toBe('postgres');
    expect(payments.schedules.map((s) => s.type)).toEqual(['full', 'incr']);
    expect(config.sources.catalogue!.priority).toBe(5);
    expect(config.sources.catalogue!.verify).toEqual({ schedule: 'after-each', depth: 'sample', share: 0.1 });
    expect(config.maxHeavyTasks).toBe(2);
  });

  it('JSON is read the same way', async () => {
    const dir = await makeTempDir();
    const yaml = await loadConfigFile(SAMPLE);
    const file = join(dir, 'zapas.json');
    await writeFile(file, JSON.stringify({ ...yaml }));
    expect(await loadConfigFile(file)).toEqual(yaml);
  });

  it('names the field and the line of a wrong value, and reports every problem at once', () => {
    const text = `${BASE}    priority: 12
    schedules:
      - cron: "0 25 * * *"
`;
    expect(problems(text.replace('url: ./repo', 'url: 7'))).toEqual([
      expect.stringMatching(/^repositories\.main\.url@4: .*string/),
      expect.stringMatching(/^sources\.saves\.priority@12: .*(<=|9)/),
    ]);
    const fixed = text.replace('priority: 12', 'priority: 3');
    expect(problems(fixed)).toEqual([expect.stringMatching(/^sources\.saves\.schedules\.0\.cron@14: .*25/)]);
  });

  it('a missing required field is reported at its parent', () => {
    expect(problems(BASE.replace('    dataClass: game-content\n', ''))).toEqual([
      expect.stringMatching(/^sources\.saves\.dataClass@8: /),
    ]);
  });

  it('an unknown field is named at its own line (a typo never passes silently)', () => {
    expect(problems(`${BASE}    retention: { keepDayly: 7 }\n`)).toEqual([
      'sources.saves.retention.keepDayly@12: unknown field',
    ]);
  });

  it('an unknown source type lists the known ones', () => {
    expect(problems(BASE.replace('type: files', 'type: ftp'))).toEqual([
      expect.stringMatching(/^sources\.saves\.type@8: .*files.*postgres/),
    ]);
  });

  it('YAML syntax errors and duplicate keys carry their line', () => {
    expect(problems(`${BASE}    paths: [./other]\n`)).toEqual([
      expect.stringMatching(/^@12: .*[Uu]nique|^@12: .*duplicate/i),
    ]);
    expect(problems('version: 1\nsources: [a\n')).toEqual([expect.stringMatching(/^@\d: /)]);
  });

  it('references: the repository, and `after` naming sources that exist, without cycles', () => {
    expect(problems(BASE.replace('repository: main', 'repository: other'))).toEqual([
      'sources.saves.repository@10: no repository "other" (known: main)',
    ]);
    const two = `${BASE}    after: [logs]
  logs:
    type: files
    paths: [./logs]
    repository: main
    dataClass: telemetry
    after: [saves]
`;
    expect(problems(two)).toEqual([
      expect.stringMatching(/^sources\.saves\.after@12: .*cycle: saves → logs → saves/),
    ]);
    expect(problems(`${BASE}    after: [nope, saves]\n`)).toEqual([
      'sources.saves.after.0@12: no source "nope"',
      'sources.saves.after.1@12: a source cannot wait for itself',
    ]);
  });

  it('crons have five fields and a known time zone', () => {
    expect(problems(`${BASE}    schedules: [{ cron: "0 3 * *" }]\n`)).toEqual([
      expect.stringMatching(/^sources\.saves\.schedules\.0\.cron@12: a cron has 5 fields/),
    ]);
    expect(problems(`${BASE}    schedules: [{ cron: "0 3 * * *", timezone: Mars/Olympus }]\n`)).toEqual([
      expect.stringMatching(/^sources\.saves\.schedules\.0\.timezone@12: .*Mars\/Olympus/),
    ]);
    expect(problems(BASE.replace('version: 1', 'version: 1\ntimezone: Europe/Atlantis'))).toEqual([
      expect.stringMatching(/^timezone@2: .*Europe\/Atlantis/),
    ]);
  });

  it('the law per data class: payment kept ≥ 5 years, personal with a maximum and in Russia', () => {
    const payment = BASE.replace('game-content', 'payment');
    expect(problems(payment)).toEqual([expect.stringMatching(/^sources\.saves\.retention@8: .*5y.*402-FZ/)]);
    expect(problems(`${payment}    retention: { minimum: 4y }\n`)).toEqual([
      expect.stringMatching(/^sources\.saves\.retention\.minimum@12: .*402-FZ/),
    ]);
    expect(problems(`${payment}    retention: { minimum: 5y }\n`)).toEqual([]);
    const personal = BASE.replace('game-content', 'personal');
    expect(problems(personal)).toEqual([
      expect.stringMatching(/^sources\.saves\.retention@8: .*152-FZ art\. 5/),
    ]);
    expect(
      problems(`${personal.replace('residency: RU', 'residency: DE')}    retention: { maximum: 3y }\n`),
    ).toEqual([expect.stringMatching(/^sources\.saves\.repository@10: .*152-FZ art\. 18/)]);
    expect(problems(`${BASE}    retention: { minimum: 2y, maximum: 1y }\n`)).toEqual([
      expect.stringMatching(/^sources\.saves\.retention\.minimum@12: .*longer than the maximum/),
    ]);
    expect(problems(`${BASE}    retention: { keepWithin: 3x }\n`)).toEqual([
      expect.stringMatching(/^sources\.saves\.retention\.keepWithin@12: invalid duration/),
    ]);
  });

  it('a password in a postgres conninfo is refused, and never echoed', () => {
    const text = `${BASE}  db:
    type: postgres
    conninfo: "host=db user=zapas password=hunter2"
    repository: main
    dataClass: default
`;
    const found = problems(text);
    expect(found).toEqual([expect.stringMatching(/^sources\.db\.conninfo@14: must not hold a password/)]);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('a file that cannot be read is named', async () => {
    await expect(loadConfigFile('/nonexistent/zapas.yaml')).rejects.toThrow(
      /\/nonexistent\/zapas\.yaml.*cannot read/s,
    );
  });

  it('schedules: the next run of a cron read in Moscow time', () => {
    expect(nextRun('0 3 * * *', 'Europe/Moscow', new Date('2026-12-02T10:00:00Z')).toISOString()).toBe(
      '2026-12-03T00:00:00.000Z',
    );
    expect(nextRun('*/15 * * * *', 'UTC', new Date('2026-12-02T10:00:00Z')).toISOString()).toBe(
      '2026-12-02T10:15:00.000Z',
    );
  });

  it('zapas config check: 0 and a summary for a good file; 2 naming file, line and field for a bad one', async () => {
    const good = await runCli(['config', 'check', SAMPLE]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/ok, 3 sources in 1 repository/);
    const dir = await makeTempDir();
    const bad = join(dir, 'zapas.yaml');
    await writeFile(bad, BASE.replace('game-content', 'nope'));
    const r = await runCli(['config', 'check', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:11:16: sources.saves.dataClass:`);
  });
});
