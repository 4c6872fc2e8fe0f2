// PostgreSQL benchmark: zapas against pgBackRest on the same cluster in the same run.
//
//   npm run bench:pg                          (pgbench scale 100 plus a table of random bytes)
//   BENCH_PG_SCALE=5 BENCH_PG_SECONDS=5 npm run bench:pg     (quick trial)
//
// Steps: full backup, incremental after `pgbench -T BENCH_PG_INCR_SECONDS` (30), restore, and the archive lag
// of each tool's archive_command under `pgbench -c 4 -T BENCH_PG_SECONDS` (60). pgBackRest as the issue asks:
// zstd level 3, encryption on, process-max=2. It needs root (clusters run as the postgres user, and the data
// sits on a file system of the bench's own: scratch-fs.mjs). The report goes into bench/results.md, after the
// file-tree bench's part (the line `<!-- bench:pg -->` divides them).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { canDropCaches, makeMeasurer } from './measure.mjs';
import { makeScratchFs, unmountStale } from './scratch-fs.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WORK = path.join(ROOT, 'bench', 'work-pg');
const FS = path.join(WORK, 'fs');
const LOGS = path.join(WORK, 'logs');
const RESULTS = path.join(ROOT, 'bench', 'results.md');
const MARK = '<!-- bench:pg -->';
const PG_BIN = process.env.ZAPAS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const RUNUSER =
  ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser';
const ZAPAS = path.join(ROOT, 'dist', 'zapas.cjs');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const SCALE = Number(process.env.BENCH_PG_SCALE ?? 100);
const LAG_SECONDS = Number(process.env.BENCH_PG_SECONDS ?? 60);
const INCR_SECONDS = Number(process.env.BENCH_PG_INCR_SECONDS ?? 30);
const PASSWORD = 'bench-password-not-secret';
const MiB = 1024 * 1024;
const started = Date.now();
const failures = [];
const notes = [];

const log = (m) => process.stdout.write(`${m}\n`);
function die(m) {
  process.stderr.write(`pg-bench: ${m}\n`);
  process.exit(2);
}

if (process.getuid?.() !== 0)
  die('run as root: clusters run as the postgres user and the bench mounts its own file system');
for (const [what, p] of [
  ['initdb', path.join(PG_BIN, 'initdb')],
  ['pgbench', path.join(PG_BIN, 'pgbench')],
  ['pgbackrest', '/usr/bin/pgbackrest'],
  ['the built zapas (npm run build)', ZAPAS],
])
  if (!existsSync(p)) die(`${what} not found at ${p}`);

/** Runs a command as the postgres user; throws with its output when it fails. */
function asPg(cmd, args, opts = {}) {
  const r = spawnSync(RUNUSER, ['-u', 'postgres', '--', cmd, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...ENV, ...(opts.env ?? {}) },
    input: opts.input,
    maxBuffer: 64 * MiB,
  });
  if (r.status !== 0 && !opts.allowFail)
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.stdout || '').trim().slice(-800)}`);
  return r.stdout ?? '';
}

const port = 5400 + Math.floor(Math.random() * 500);
const DATA = path.join(FS, 'data');
const SOCK = path.join(FS, 'sock');
const ZREPO = path.join(FS, 'repo-zapas');
const BREPO = path.join(FS, 'repo-pgbackrest');
const PWFILE = path.join(FS, 'zapas-password');
const BRCONF = path.join(FS, 'pgbackrest.conf');
const ENV = {
  PATH: `${path.dirname(NODE)}:${PG_BIN}:/usr/bin:/bin`,
  ZAPAS_REPOSITORY: ZREPO,
  ZAPAS_PASSWORD_FILE: PWFILE,
  PGHOST: SOCK,
  PGPORT: String(port),
  HOME: FS,
};
const zapas = (...args) => [NODE, ZAPAS, ...args];
const pgbackrest = (...args) => ['pgbackrest', `--config=${BRCONF}`, '--stanza=bench', ...args];
const asPgArgv = (argv) => [RUNUSER, '-u', 'postgres', '--', ...argv];
const sql = (q, db = 'postgres') =>
  asPg(path.join(PG_BIN, 'psql'), ['-X', '-A', '-t', '-d', db, '-c', q]).trim();
const ZAPAS_ARCHIVE = `${NODE} ${ZAPAS} pg wal-push --source bench %p`;
const ZAPAS_ASYNC_ARCHIVE = `${NODE} ${ZAPAS} pg wal-push --async --spool ${path.join(FS, 'zapas-spool')} --source bench %p`;
const PGBR_ARCHIVE = `pgbackrest --config=${BRCONF} --stanza=bench archive-push %p`;

let scratch = { release: () => undefined, detail: 'not set up' };
const results = {};
const sizes = {};
const lag = {};
let measure;
/** Whether each measured step starts with an empty page cache. */
let coldCache = false;
/** pg_basebackup's stream alone, thrown away: what no full backup over the replication protocol can beat. */
let floor;

async function main() {
  unmountStale(FS);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  coldCache = canDropCaches();
  measure = makeMeasurer({ work: WORK, logs: LOGS, root: ROOT, timeoutSeconds: 7200, dropCaches: coldCache });
  scratch = makeScratchFs(FS, path.join(WORK, 'fs.img'), Math.max(8, Math.ceil(SCALE / 5)) * 1024 ** 3);
  log(`pg-bench: scale ${SCALE}, data on ${scratch.detail}`);
  spawnSync('chown', ['-R', 'postgres:postgres', FS]);
  writeFileSync(PWFILE, `${PASSWORD}\n`, { mode: 0o600 });
  spawnSync('chown', ['postgres:postgres', PWFILE]);
  asPg('mkdir', ['-p', SOCK, BREPO, path.join(FS, 'pgbackrest-log'), path.join(FS, 'pgbackrest-lock')]);

  asPg(path.join(PG_BIN, 'initdb'), ['-D', DATA, '-U', 'postgres', '--auth=trust', '--no-sync']);
  const conf = [
    `port = ${port}`,
    "listen_addresses = ''",
    `unix_socket_directories = '${SOCK}'`,
    'wal_level = replica',
    'archive_mode = on',
    `archive_command = '${ZAPAS_ARCHIVE} && ${PGBR_ARCHIVE}'`,
    'max_wal_senders = 6',
    'shared_buffers = 256MB',
    'max_wal_size = 4GB',
    'checkpoint_timeout = 30min',
  ];
  asPg('sh', ['-c', `cat >> ${DATA}/postgresql.conf`], { input: `${conf.join('\n')}\n` });
  writeFileSync(
    BRCONF,
    [
      '[global]',
      `repo1-path=${BREPO}`,
      'repo1-cipher-type=aes-256-cbc',
      `repo1-cipher-pass=${PASSWORD}`,
      'compress-type=zst',
      'compress-level=3',
      'process-max=2',
      'start-fast=y',
      `log-path=${path.join(FS, 'pgbackrest-log')}`,
      `lock-path=${path.join(FS, 'pgbackrest-lock')}`,
      'log-level-console=warn',
      '',
      '[bench]',
      `pg1-path=${DATA}`,
      `pg1-socket-path=${SOCK}`,
      `pg1-port=${port}`,
      '',
    ].join('\n'),
  );
  spawnSync('chown', ['postgres:postgres', BRCONF]);
  asPg(path.join(PG_BIN, 'pg_ctl'), ['-D', DATA, '-l', path.join(FS, 'server.log'), '-w', 'start']);
  asPg(NODE, [ZAPAS, 'init']);
  asPg('pgbackrest', [`--config=${BRCONF}`, '--stanza=bench', 'stanza-create']);

  const t0 = Date.now();
  asPg(path.join(PG_BIN, 'pgbench'), ['-i', '-s', String(SCALE), '-q', 'postgres']);
  sql('CREATE EXTENSION IF NOT EXISTS pgcrypto');
  // A less compressible table: random bytes, a fifth of pgbench's size.
  sql(
    `CREATE TABLE noise AS SELECT g AS id, gen_random_bytes(1000) || gen_random_bytes(1000) AS b FROM generate_series(1, ${SCALE * 1000}) g`,
  );
  sql('CHECKPOINT');
  const dbBytes = Number(sql('SELECT sum(pg_database_size(datname)) FROM pg_database'));
  results.dataset = { seconds: (Date.now() - t0) / 1000, dbBytes };
  log(`data set: pgbench scale ${SCALE} + noise table, ${(dbBytes / MiB).toFixed(0)} MiB in all databases`);

  const pair = (step, zArgv, bArgv, order) => {
    results[step] = {};
    for (const tool of order) {
      log(`  ${step}: ${tool} …`);
      const r = measure(`${step}-${tool}`, asPgArgv(tool === 'zapas' ? zArgv : bArgv), ENV);
      if (!r.ok)
        failures.push(
          `${tool} ${step} failed (exit ${r.rc}); logs ${r.logBase}.*: ${(r.stderr || r.stdout).trim().slice(-300)}`,
        );
      log(`  ${step}: ${tool} ${r.seconds.toFixed(2)} s, peak ${(r.peakBytes / MiB).toFixed(0)} MiB`);
      results[step][tool] = r;
    }
  };
  const zapasBackup = (type) =>
    zapas(
      'pg',
      'backup',
      '--source',
      'bench',
      '--type',
      type,
      '--pg',
      `host=${SOCK} port=${port} user=postgres`,
    );
  waitArchived();
  pair('full backup', zapasBackup('full'), pgbackrest('backup', '--type=full'), ['zapas', 'pgbackrest']);
  sizes.full = { zapas: du(ZREPO), pgbackrest: du(BREPO) };
  // The floor under zapas's full backup: the same stream from the server, thrown away.
  log('  pg_basebackup to /dev/null (the stream zapas reads, alone) …');
  floor = measure(
    'pg_basebackup-alone',
    asPgArgv([
      'sh',
      '-c',
      `${path.join(PG_BIN, 'pg_basebackup')} -h ${SOCK} -p ${port} -U postgres -Ft -D - -X none -c fast > /dev/null`,
    ]),
    ENV,
  );
  log(`  pg_basebackup alone ${floor.seconds.toFixed(2)} s`);

  log(`  pgbench -c 4 -T ${INCR_SECONDS} (light write load before the incrementals) …`);
  asPg(path.join(PG_BIN, 'pgbench'), ['-c', '4', '-j', '2', '-T', String(INCR_SECONDS), '-n', 'postgres']);
  waitArchived();
  pair('incremental backup', zapasBackup('incr'), pgbackrest('backup', '--type=incr'), [
    'pgbackrest',
    'zapas',
  ]);
  sizes.incr = { zapas: du(ZREPO), pgbackrest: du(BREPO) };

  const zTarget = path.join(FS, 'restore-zapas');
  const bTarget = path.join(FS, 'restore-pgbackrest');
  pair(
    'restore',
    zapas('pg', 'restore', '--source', 'bench', '--target', zTarget),
    pgbackrest('restore', `--pg1-path=${bTarget}`),
    ['zapas', 'pgbackrest'],
  );
  rmSync(zTarget, { recursive: true, force: true });
  rmSync(bTarget, { recursive: true, force: true });

  for (const [tool, command] of [
    ['zapas', ZAPAS_ARCHIVE],
    ['zapas-async', ZAPAS_ASYNC_ARCHIVE],
    ['pgbackrest', PGBR_ARCHIVE],
  ])
    lag[tool] = await archiveLag(tool, command);
  sql(`ALTER SYSTEM SET archive_command = '${ZAPAS_ARCHIVE.replace(/'/g, "''")} && ${PGBR_ARCHIVE}'`);
  sql('SELECT pg_reload_conf()');
}

/**
 * Waits until everything written so far is archived: a base backup waits for its WAL to be archived, and
 * the one measured first would otherwise pay for the backlog of the data load.
 */
function waitArchived() {
  const segment = sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
  sql('SELECT pg_switch_wal()');
  const t0 = Date.now();
  while (
    sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < segment &&
    Date.now() - t0 < 1_800_000
  )
    spawnSync('sleep', ['0.5']);
  log(`  (WAL archived up to ${segment} after ${((Date.now() - t0) / 1000).toFixed(1)} s of waiting)`);
}

/** Samples the archiver once a second while pgbench writes; returns the worst and final backlog. */
async function archiveLag(tool, command) {
  sql(`ALTER SYSTEM SET archive_command = '${command.replace(/'/g, "''")}'`);
  sql('SELECT pg_reload_conf()');
  const segNo = (name) =>
    Number.parseInt(name.slice(8, 16), 16) * 256 + Number.parseInt(name.slice(16, 24), 16);
  const before = sql('SELECT archived_count FROM pg_stat_archiver');
  const startWal = sql('SELECT pg_current_wal_lsn()');
  log(`  archive lag: ${tool}, pgbench -c 4 -T ${LAG_SECONDS} …`);
  const bench = spawn(
    RUNUSER,
    [
      '-u',
      'postgres',
      '--',
      path.join(PG_BIN, 'pgbench'),
      '-c',
      '4',
      '-j',
      '2',
      '-T',
      String(LAG_SECONDS),
      '-n',
      'postgres',
    ],
    {
      env: { ...process.env, ...ENV },
      stdio: 'ignore',
    },
  );
  const samples = [];
  const t0 = Date.now();
  let running = true;
  bench.on('close', () => (running = false));
  // Awaited sleeps, not blocking ones: pgbench's exit is an event this loop must see.
  while (running || Date.now() - t0 < LAG_SECONDS * 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    const cur = sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
    const last = sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver");
    samples.push(last ? Math.max(0, segNo(cur) - segNo(last) - 1) : 0);
    if (!running && samples.length > LAG_SECONDS + 2) break;
  }
  // Drain: how long until everything written is archived.
  const endSegment = sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
  sql('SELECT pg_switch_wal()');
  const d0 = Date.now();
  while (
    sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") < endSegment &&
    Date.now() - d0 < 600_000
  )
    spawnSync('sleep', ['0.2']);
  const walBytes = Number(sql(`SELECT pg_current_wal_lsn() - '${startWal}'::pg_lsn`));
  const failed = Number(sql('SELECT failed_count FROM pg_stat_archiver'));
  return {
    maxSegments: Math.max(0, ...samples),
    meanSegments: samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length),
    drainSeconds: (Date.now() - d0) / 1000,
    walMiB: walBytes / MiB,
    archived: Number(sql('SELECT archived_count FROM pg_stat_archiver')) - Number(before),
    failedTotal: failed,
  };
}

function du(p) {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : Number.NaN;
}

const ARCHIVERS = {
  zapas: 'zapas pg wal-push',
  'zapas-async': 'zapas pg wal-push --async',
  pgbackrest: 'pgbackrest archive-push',
};
const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '–');

function report() {
  const rows = [
    '| step | zapas s | pgBackRest s | speed ratio (pgBackRest/zapas) | target | zapas peak MiB | pgBackRest peak MiB | zapas CPU s | pgBackRest CPU s |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  for (const [step, byTool] of Object.entries(results)) {
    if (step === 'dataset') continue;
    const z = byTool.zapas;
    const b = byTool.pgbackrest;
    const ratio = b?.ok && z?.ok ? b.seconds / z.seconds : Number.NaN;
    const target =
      step === 'incremental backup' ? '–' : `≥ 1.0x ${ratio >= 1 ? 'met' : '**missed**'} (goal 1.5x)`;
    rows.push(
      `| ${step} | ${z?.ok ? fmt(z.seconds) : 'FAILED'} | ${b?.ok ? fmt(b.seconds) : 'FAILED'} | ${fmt(ratio)}x | ${target} | ${fmt((z?.peakBytes ?? 0) / MiB, 0)} | ${fmt((b?.peakBytes ?? 0) / MiB, 0)} | ${fmt(z?.cpu, 1)} | ${fmt(b?.cpu, 1)} |`,
    );
  }
  const sizeRows = [
    '| repository (du -sb) | zapas MiB | pgBackRest MiB | zapas/pgBackRest | target |',
    '|---|---:|---:|---:|---|',
  ];
  for (const [k, v] of Object.entries(sizes)) {
    const r = v.zapas / v.pgbackrest;
    sizeRows.push(
      `| after ${k === 'full' ? 'the full backup' : 'the incremental'} | ${fmt(v.zapas / MiB, 1)} | ${fmt(v.pgbackrest / MiB, 1)} | ${fmt(r, 3)} | ≤ 1.10 ${r <= 1.1 ? 'met' : '**missed**'} |`,
    );
  }
  const incr = results['incremental backup'];
  const incrAdded =
    sizes.incr && sizes.full
      ? {
          zapas: sizes.incr.zapas - sizes.full.zapas,
          pgbackrest: sizes.incr.pgbackrest - sizes.full.pgbackrest,
        }
      : undefined;
  const lagRows = [
    '| archive_command | WAL written MiB | segments archived | worst backlog (segments) | mean backlog | drained in s after pgbench |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const [tool, l] of Object.entries(lag))
    lagRows.push(
      `| ${ARCHIVERS[tool]} | ${fmt(l.walMiB, 0)} | ${l.archived} | ${l.maxSegments} | ${fmt(l.meanSegments, 1)} | ${fmt(l.drainSeconds, 1)} |`,
    );
  const section = `${MARK}
# zapas vs pgBackRest: PostgreSQL benchmark

- date: ${new Date().toISOString()}; machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${os.type()} ${os.release()}
- PostgreSQL: ${spawnSync(path.join(PG_BIN, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim()}; ${spawnSync('pgbackrest', ['version'], { encoding: 'utf8' }).stdout.trim()} (zstd level 3, aes-256-cbc, process-max=2)
- zapas: git ${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim()} on Node ${spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim()}; base backups over the replication protocol, WAL from the archive
- command: \`BENCH_PG_SCALE=${SCALE} BENCH_PG_SECONDS=${LAG_SECONDS} BENCH_PG_INCR_SECONDS=${INCR_SECONDS} npm run bench:pg\`; file system: ${scratch.detail}
- data set: \`pgbench -i -s ${SCALE}\` plus a table of ${SCALE * 1000} rows of 2,000 random bytes: ${fmt((results.dataset?.dbBytes ?? 0) / MiB, 0)} MiB in all databases
- result: ${failures.length === 0 ? 'all commands succeeded' : `**${failures.length} failure(s)**`}; total ${fmt((Date.now() - started) / 1000, 0)} s

${rows.join('\n')}

${sizeRows.join('\n')}

${floor?.ok ? `The replication stream alone (\`pg_basebackup -Ft -D - -X none -c fast > /dev/null\`, same conditions) took ${fmt(floor.seconds)} s (CPU ${fmt(floor.cpu, 1)} s): the floor under zapas's full backup, which reads that stream.\n\n` : ''}Incremental after \`pgbench -c 4 -T ${INCR_SECONDS}\`: zapas re-reads every file from the server (pg_basebackup's protocol has no
incremental mode before PostgreSQL 17) and stores only new chunks; pgBackRest reads only files that changed.
Repository growth: zapas ${incrAdded ? fmt(incrAdded.zapas / MiB, 1) : '–'} MiB, pgBackRest ${incrAdded ? fmt(incrAdded.pgbackrest / MiB, 1) : '–'} MiB; time ${incr?.zapas?.ok ? fmt(incr.zapas.seconds) : '–'} s against ${incr?.pgbackrest?.ok ? fmt(incr.pgbackrest.seconds) : '–'} s.

Archive lag under \`pgbench -c 4 -j 2 -T ${LAG_SECONDS}\`, one archive_command at a time (backlog = segments written but
not yet archived, sampled each second):

${lagRows.join('\n')}

${failures.length ? `Failures:\n\n${failures.map((f) => `- ${f}`).join('\n')}\n\n` : ''}${notes.length ? `Notes:\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n` : ''}Each step ran once per tool as the postgres user, against its own repository on the same file system, after
\`sync\`${coldCache ? ' and with an emptied page cache (both read the cluster or their repository from disk)' : ''}; backup times include everything from connecting to the committed backup, restore times the restore
command alone (not the recovery that starts after). Raw outputs are in bench/work-pg/logs/ until the next run.
`;
  const current = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const head = current.includes(MARK) ? current.slice(0, current.indexOf(MARK)) : current;
  writeFileSync(RESULTS, `${head.trimEnd()}\n\n${section}`);
  const biome = path.join(ROOT, 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', RESULTS], { cwd: ROOT, stdio: 'ignore' });
  log(`\n${readFileSync(RESULTS, 'utf8').slice(readFileSync(RESULTS, 'utf8').indexOf(MARK))}`);
}

try {
  await main();
} catch (e) {
  failures.push(`bench script error: ${e?.stack ?? e}`);
} finally {
  try {
    asPg(path.join(PG_BIN, 'pg_ctl'), ['-D', DATA, '-m', 'immediate', '-w', 'stop'], { allowFail: true });
  } catch {
    // the server may not have started
  }
  // The async archiver's daemon lingers for a while after its last file: it must not hold the file system.
  spawnSync('pkill', ['-f', `--spool ${path.join(FS, 'zapas-spool')}`]);
  spawnSync('sleep', ['1']);
  try {
    scratch.release();
  } catch (e) {
    notes.push(`could not release the bench's file system: ${e.message}`);
  }
}
report();
if (failures.length > 0) {
  process.stderr.write(
    `\npg-bench: ${failures.length} failure(s):\n${failures.map((f) => `- ${f}`).join('\n')}\n`,
  );
  process.exit(1);
}
