import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, MAX_CONFIG_BYTES, parseConfig } from '../../lib/pipeline/config/load';
import { nextRun } from '../../lib/pipeline/config/schedule';
import { runCli } from '../support/cli';
import { makeTempDir } from '../support/temp';
import { BASE } from './config-base';

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
    // Shape problems and the cron's (a cross-field check) in one run; the repository with a bad url is
    // reported for its url, not as missing.
    expect(problems(text.replace('url: 7', 'url: 7').replace('url: ./repo', 'url: 7'))).toEqual([
      expect.stringMatching(/^repositories\.main\.url@4: .*string/),
      expect.stringMatching(/^sources\.saves\.priority@12: .*(<=|9)/),
      expect.stringMatching(/^sources\.saves\.schedules\.0\.cron@14: .*25/),
    ]);
    const fixed = text.replace('priority: 12', 'priority: 3');
    expect(problems(fixed)).toEqual([expect.stringMatching(/^sources\.saves\.schedules\.0\.cron@14: .*25/)]);
  });

  it('every problem of a file in one run: shape and cross-field, in the order of the file', () => {
    const text = `version: 1
timezone: Europe/Atlantis
maxHeavyTasks: many
repositories:
  main:
    url: ./repo
    residency: DE
sources:
  saves:
    type: files
    paths: [./saves]
    repository: main
    dataClass: personal
    retention: { maximum: 1y, keepDaily: lots }
    after: [nope]
  db:
    type: postgres
    conninfo: "host=db"
    repository: elsewhere
    dataClass: payment
    priority: 10
    schedules: [{ cron: "0 3 * *" }]
  broken:
    type: ftp
    repository: main
    dataClass: default
`;
    expect(problems(text)).toEqual([
      expect.stringMatching(/^timezone@2: .*Europe\/Atlantis/),
      expect.stringMatching(/^maxHeavyTasks@3: /),
      // personal data outside Russia: the retention line's bad keepDaily does not hide the rest of it
      expect.stringMatching(/^sources\.saves\.repository@12: .*152-FZ art\. 18/),
      expect.stringMatching(/^sources\.saves\.retention\.keepDaily@14: /),
      'sources.saves.after.0@15: no source "nope"',
      // a payment source without retention: reported at the source, which has none
      expect.stringMatching(/^sources\.db\.retention@17: .*402-FZ/),
      expect.stringMatching(/^sources\.db\.repository@19: no repository "elsewhere" \(known: main\)/),
      expect.stringMatching(/^sources\.db\.priority@21: /),
      expect.stringMatching(/^sources\.db\.schedules\.0\.cron@22: a cron has 5 fields/),
      expect.stringMatching(/^sources\.broken\.type@24: .*files.*postgres/),
    ]);
  });

  it('an alias bomb is refused at its first alias, not expanded', () => {
    const laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const [prev, name] = [String.fromCharCode(96 + i), String.fromCharCode(97 + i)];
      laughs.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    expect(problems(`version: 1\n${laughs.join('\n')}\n`)).toEqual([
      expect.stringMatching(/^@3: aliases expand to more than 100 nodes/),
    ]);
    expect(Date.now() - started).toBeLessThan(2000);
    // A few aliases for shared settings are fine.
    const shared = BASE.replace('    dataClass: game-content\n', '    dataClass: &dc game-content\n');
    expect(
      problems(
        `${shared}  logs:\n    type: files\n    paths: [./logs]\n    repository: main\n    dataClass: *dc\n`,
      ),
    ).toEqual([]);
  });

  it('prototype names are refused as names anywhere, each at its line', () => {
    const text = `${BASE}    after: [constructor]
  constructor:
    type: files
    paths: [./x]
    repository: main
    dataClass: default
  logs:
    type: files
    paths: [./logs]
    repository: hasOwnProperty
    dataClass: default
    __proto__: { dataClass: personal }
toString: 1
`;
    expect(problems(text)).toEqual([
      expect.stringMatching(/^sources\.saves\.after\.0@12: "constructor" cannot be a source name/),
      expect.stringMatching(
        /^sources\.constructor@13: "constructor" is a property of every JavaScript object/,
      ),
      expect.stringMatching(/^sources\.logs\.repository@21: "hasOwnProperty" cannot be a repository name/),
      expect.stringMatching(
        /^sources\.logs\.__proto__@23: "__proto__" is a property of every JavaScript object/,
      ),
      expect.stringMatching(/^toString@24: "toString" is a property of every JavaScript object/),
    ]);
    expect(({} as Record<string, unknown>).dataClass).toBeUndefined();
    const json = JSON.stringify({
      version: 1,
      repositories: { main: { url: './repo' } },
      sources: JSON.parse(
        '{"__proto__": {"type": "files", "paths": ["/"], "repository": "main", "dataClass": "default"}}',
      ),
    });
    expect(problems(json)).toEqual([
      expect.stringMatching(/^sources\.__proto__@1: "__proto__" is a property of every JavaScript object/),
    ]);
  });

  it('a lookup by a name from outside finds only what the file defines', () => {
    const config = parseConfig(BASE);
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(config.sources[name]).toBeUndefined();
      expect(config.repositories[name]).toBeUndefined();
    }
    expect(config.sources.saves?.type).toBe('files');
  });

  it('a file over 4 MiB is refused at once, named, without being parsed', async () => {
    const dir = await makeTempDir();
    const big = join(dir, 'zapas.yaml');
    await writeFile(big, `${BASE}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    await expect(loadConfigFile(big)).rejects.toThrow(
      /zapas\.yaml.*more than a configuration may have \(4194304, 4 MiB\)/s,
    );
    expect(() => parseConfig(`${BASE}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`)).toThrow(
      /more than a configuration may have/,
    );
    const r = await runCli(['config', 'check', big]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(big);
    // Just under the limit is read as usual.
    await writeFile(big, `${BASE}#${'x'.repeat(MAX_CONFIG_BYTES - BASE.length - 3)}\n`);
    expect((await loadConfigFile(big)).sources.saves).toBeDefined();
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

  it('zapas config check: an alias bomb exits 2 naming the file and the line', async () => {
    const dir = await makeTempDir();
    const bomb = join(dir, 'bomb.yaml');
    const lines = ['version: 1', 'a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const n of 'bcdefghij')
      lines.push(
        `${n}: &${n} [${Array(10)
          .fill(`*${String.fromCharCode(n.charCodeAt(0) - 1)}`)
          .join(', ')}]`,
      );
    await writeFile(bomb, `${lines.join('\n')}\n`);
    const r = await runCli(['config', 'check', bomb]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`${bomb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:\\d+: aliases expand`),
    );
  });
});
