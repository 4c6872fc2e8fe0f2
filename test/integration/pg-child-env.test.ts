import { chmod, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  makePgDir,
  makePgRepo,
  mkdirAsPg,
  PG_AVAILABLE,
  PG_BIN,
  type PgRepo,
  TestCluster,
  zapasAsPg,
} from '../support/postgres';
import { TEST_PASSWORD } from '../support/repo';

const describePg = PG_AVAILABLE ? describe : describe.skip;

/** The tools zapas starts, each replaced by a wrapper that records its environment and runs the real one. */
const WATCHED = ['pg_dump', 'pg_restore', 'pg_verifybackup', 'postgres'];

/** What the parent has and no PostgreSQL child may get. */
const SECRETS: NodeJS.ProcessEnv = {
  ZAPAS_PASSWORD: TEST_PASSWORD,
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'aws secret that must stay home',
  AWS_SESSION_TOKEN: 'aws session that must stay home',
  GITHUB_TOKEN: 'an unrelated secret',
};

/**
 * A folder of the PostgreSQL binaries (symlinks to the real ones) where each WATCHED tool is a shell
 * script that writes the environment it was started with (/proc/self/environ, as exec gave it) to
 * `records/<tool>.<pid>`, then execs the real tool.
 */
async function recordingBin(): Promise<{ bin: string; records: string }> {
  const base = await makePgDir('zapas-childenv-');
  const bin = join(base, 'bin');
  const records = join(base, 'records');
  await mkdirAsPg(bin);
  await mkdirAsPg(records);
  for (const name of await readdir(PG_BIN)) {
    if (!WATCHED.includes(name)) {
      await symlink(join(PG_BIN, name), join(bin, name));
      continue;
    }
    const script = join(bin, name);
    await writeFile(
      script,
      `#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > '${records}/${name}.'$$\nexec '${join(PG_BIN, name)}' "$@"\n`,
    );
    await chmod(script, 0o755);
  }
  return { bin, records };
}

/** Each recorded start of `tool`: its environment as lines NAME=value. */
async function recorded(records: string, tool: string): Promise<string[][]> {
  const files = (await readdir(records)).filter((f) => f.startsWith(`${tool}.`));
  return Promise.all(files.map(async (f) => (await readFile(join(records, f), 'utf8')).split('\n')));
}

/**
 * Children get an explicit minimal environment: with the repository password and cloud secrets in zapas's
 * own environment, pg_dump, pg_restore, pg_verifybackup and the `pg verify` scratch postgres (which may
 * run as another user, whose /proc/<pid>/environ that user can read) see none of them.
 */
describePg('the environment of the PostgreSQL tools zapas starts', () => {
  let repo: PgRepo;
  let cluster: TestCluster;
  let records = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(async () => {
    repo = await makePgRepo();
    cluster = await TestCluster.create({ repo, source: 'accounts' });
    await cluster.sql('CREATE TABLE players (id int PRIMARY KEY)');
    await cluster.sql('INSERT INTO players SELECT generate_series(1, 100)');
    const fake = await recordingBin();
    records = fake.records;
    env = { ...SECRETS, ZAPAS_PG_BIN: fake.bin, LC_ALL: 'C.UTF-8' };
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  const run = async (args: string[]) => {
    const r = await zapasAsPg(repo, args, env);
    if (r.code !== 0) throw new Error(`zapas ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  };

  const expectClean = (lines: string[], tool: string) => {
    const names = lines.map((l) => l.slice(0, l.indexOf('=')));
    for (const name of Object.keys(SECRETS)) expect([tool, names.includes(name)]).toEqual([tool, false]);
    for (const value of Object.values(SECRETS))
      expect([tool, lines.some((l) => l.includes(value!))]).toEqual([tool, false]);
    expect(names.filter((n) => n.startsWith('ZAPAS_'))).toEqual([]);
    // What it does need: the search path and the locale.
    expect(names).toContain('PATH');
    expect(lines).toContain('LC_ALL=C.UTF-8');
  };

  it('pg_dump and pg_restore get the libpq variables, not the repository password or cloud keys', async () => {
    await run(['pg', 'dump', '--source', 'accounts-dump', '--pg', cluster.conninfo]);
    await run([
      'pg',
      'restore-dump',
      '--source',
      'accounts-dump',
      '--pg',
      cluster.conninfo,
      '--target-db',
      'accounts_copy',
    ]);
    expect(await cluster.sql('SELECT count(*) FROM players', { db: 'accounts_copy' })).toBe('100');
    for (const tool of ['pg_dump', 'pg_restore']) {
      const starts = await recorded(records, tool);
      expect(starts.length).toBeGreaterThan(0);
      for (const lines of starts) expectClean(lines, tool);
    }
  });

  it('the pg verify scratch postgres and pg_verifybackup get no password of any kind', async () => {
    await run(['pg', 'backup', '--source', 'accounts', '--pg', cluster.conninfo]);
    await run(['pg', 'verify', '--source', 'accounts']);
    for (const tool of ['pg_verifybackup', 'postgres']) {
      const starts = await recorded(records, tool);
      expect(starts.length).toBeGreaterThan(0);
      for (const lines of starts) {
        expectClean(lines, tool);
        expect(lines.filter((l) => l.startsWith('PG'))).toEqual([]);
      }
    }
  }, 120_000);
});
