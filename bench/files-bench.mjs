// File-tree backup benchmark: zapas against restic on the same generated data set.
//
//   npm run bench                       (scale 1.0, about 1.1 GiB)
//   BENCH_SCALE=0.05 npm run bench      (quick trial, well under a minute)
//
// Environment: BENCH_SCALE (default 1.0), BENCH_STEP_TIMEOUT seconds per command (default 7200, 0 = none),
// BENCH_REPEAT (5), BENCH_FS=plain (no loop file system, see scratch-fs.mjs).
// Everything lives in bench/work/ (wiped at start): logs there, the data set, repositories and restore targets in
// bench/work/fs/, a journaled ext4 of the bench's own when run as root. The report goes to bench/results.md.
// Exit status 1 when any command failed or a restore differed from its source; the report is still written.

import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeMeasurer, median, readText } from './measure.mjs';
import { makeScratchFs, unmountStale } from './scratch-fs.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = path.join(ROOT, 'bench');
const WORK = path.join(BENCH, 'work');
/** Data set, repositories and restore targets: the bench's own file system (scratch-fs.mjs). */
const FS = path.join(WORK, 'fs');
const DATA = path.join(FS, 'data');
const LOGS = path.join(WORK, 'logs');
const GEN = path.join(ROOT, 'bench', 'gen-dataset.py');
const ZAPAS_CJS = path.join(ROOT, 'dist', 'zapas.cjs');
/**
 * Run zapas as its own #! line does (`env -S VAR=value … node --flags…`: the environment and V8 flags the
 * command ships with), but on Node 24 explicitly.
 */
const SHEBANG_WORDS = readFileSync(ZAPAS_CJS, 'utf8').split('\n', 1)[0].split(/\s+/);
const zapasFlags = () => SHEBANG_WORDS.filter((w) => w.startsWith('--'));
const shebangEnv = Object.fromEntries(
  SHEBANG_WORDS.filter((w) => /^[A-Z_][A-Z0-9_]*=/.test(w)).map((w) => [
    w.slice(0, w.indexOf('=')),
    w.slice(w.indexOf('=') + 1),
  ]),
);
const RESULTS = path.join(BENCH, 'results.md');
/** Where bench/pg-bench.mjs's part of results.md begins. */
const PG_MARK = '<!-- bench:pg -->';
const PASSWORD = 'bench-password-not-secret';
const MiB = 1024 * 1024;

const scaleText = process.env.BENCH_SCALE ?? '1.0';
const SCALE = Number(scaleText);
if (!(SCALE > 0)) die(`BENCH_SCALE must be a positive number, not "${scaleText}"`);
const STEP_TIMEOUT = Number(process.env.BENCH_STEP_TIMEOUT ?? 7200);
/** Runs of the steps with a speed target above 1x (initial backup, restore): their median is reported. */
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
if (!(Number.isInteger(REPEAT) && REPEAT >= 1))
  die(`BENCH_REPEAT must be a whole number >= 1, not "${process.env.BENCH_REPEAT}"`);

const benchStarted = Date.now();
const failures = []; // human-readable lines: what failed
const notes = []; // odd things worth a look, not failures

function die(message) {
  process.stderr.write(`files-bench: ${message}\n`);
  process.exit(2);
}

function log(message) {
  process.stdout.write(`${message}\n`);
}

// ---------------------------------------------------------------------------------------------------------
// Prerequisites

if (!existsSync(GEN))
  die(`data-set generator not found: ${GEN}`);
if (!existsSync(ZAPAS_CJS)) die(`${ZAPAS_CJS} is missing: run "npm run build" first (npm run bench does it)`);
for (const tool of ['python3', 'restic', 'du', 'diff', 'sync']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) die(`"${tool}" is not on PATH`);
}

/** The Node that runs zapas: zapas needs zlib's zstd (Node 24); the system node may be older. */
function zapasNode() {
  if (Number(process.versions.node.split('.')[0]) >= 24) return process.execPath;
  const local = path.join(ROOT, 'node_modules', '.bin', 'node');
  if (existsSync(local)) return local;
  die(
    `Node ${process.versions.node} runs this script and node_modules/.bin/node is absent; zapas needs Node 24`,
  );
}
const NODE = zapasNode();

function capture(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  return r.status === 0
    ? r.stdout.trim()
    : `(${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error || '').toString().trim()})`;
}

// ---------------------------------------------------------------------------------------------------------
// Measuring (bench/measure.mjs); set up in main() once the work folder exists.

let measured = () => {
  throw new Error('the measurer is not set up');
};

function tail(text, lines = 6) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// Tools

const zapasEnv = { ...shebangEnv, ZAPAS_PASSWORD: PASSWORD, ZAPAS_REPOSITORY: path.join(FS, 'repo-zapas') };
const resticEnv = {
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_REPOSITORY: path.join(FS, 'repo-restic'),
  RESTIC_CACHE_DIR: path.join(FS, 'restic-cache'),
};
const zRepo = ['--repo', zapasEnv.ZAPAS_REPOSITORY];
const rRepo = ['-r', resticEnv.RESTIC_REPOSITORY];

const TOOLS = {
  zapas: {
    env: zapasEnv,
    repo: zapasEnv.ZAPAS_REPOSITORY,
    init: (repo = zapasEnv.ZAPAS_REPOSITORY) => [NODE, ...zapasFlags(), ZAPAS_CJS, '--repo', repo, 'init'],
    backup: (repo = zapasEnv.ZAPAS_REPOSITORY) => [
      NODE,
      ...zapasFlags(),
      ZAPAS_CJS,
      '--repo',
      repo,
      'backup',
      '--json',
      DATA,
    ],
    restore: (target) => [
      NODE,
      ...zapasFlags(),
      ZAPAS_CJS,
      ...zRepo,
      'restore',
      'latest',
      '--target',
      target,
    ],
    check: () => [NODE, ...zapasFlags(), ZAPAS_CJS, ...zRepo, 'check', '--read-data'],
    /** The summary of `backup --json`: its last line with messageType "summary". */
    summary(stdout) {
      const s = lastJson(stdout, (o) => o.messageType === 'summary');
      if (!s) return null;
      return {
        new: s.filesNew,
        changed: s.filesChanged,
        unmodified: s.filesUnmodified,
        processed: s.bytesProcessed,
        added: s.bytesAdded,
        toolMs: s.durationMs,
        snapshot: String(s.snapshotId).slice(0, 8),
      };
    },
  },
  restic: {
    env: resticEnv,
    repo: resticEnv.RESTIC_REPOSITORY,
    init: (repo = resticEnv.RESTIC_REPOSITORY) => ['restic', '-r', repo, 'init', '--repository-version', '2'],
    backup: (repo = resticEnv.RESTIC_REPOSITORY) => [
      'restic',
      '-r',
      repo,
      'backup',
      '--json',
      '--compression',
      'auto',
      DATA,
    ],
    restore: (target) => ['restic', ...rRepo, 'restore', 'latest', '--target', target],
    check: () => ['restic', ...rRepo, 'check', '--read-data'],
    summary(stdout) {
      const s = lastJson(stdout, (o) => o.message_type === 'summary');
      if (!s) return null;
      return {
        new: s.files_new,
        changed: s.files_changed,
        unmodified: s.files_unmodified,
        processed: s.total_bytes_processed,
        added: s.data_added,
        toolMs: Math.round(s.total_duration * 1000),
        snapshot: s.snapshot_id,
      };
    },
  },
};

function lastJson(stdout, pred) {
  const lines = stdout.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const o = JSON.parse(lines[i]);
      if (pred(o)) return o;
    } catch {
      // not JSON: progress text or similar
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// File-system helpers

function walk(dir) {
  let files = 0;
  let bytes = 0;
  let dirs = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop();
    dirs++;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        files++;
        bytes += statSync(p).size;
      }
    }
  }
  return { files, bytes, dirs };
}

function duBytes(p) {
  const r = spawnSync('du', ['-sb', p], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.split(/\s/)[0]) : Number.NaN;
}

/** Where the data folder landed inside a restore target (tools differ: full absolute path or last part). */
function restoredDataDir(target) {
  const candidates = [path.join(target, DATA), path.join(target, path.basename(DATA)), target];
  for (const c of candidates) {
    if (existsSync(path.join(c, 'saves')) && lstatSync(c).isDirectory()) return c;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Run

const results = {}; // step -> tool -> record
const STEP_INFO = {
  init: { title: 'init (repository creation)', target: null, bytes: () => null },
  initial: { title: 'initial backup', target: 1.5, bytes: () => dataset.bytes },
  noop: { title: 'no-op incremental backup', target: 1.0, bytes: () => dataset.bytes },
  incremental: { title: 'incremental backup after mutation', target: 1.0, bytes: () => mutated.bytes },
  restore: { title: 'restore latest', target: 1.5, bytes: () => mutated.bytes },
  check: { title: 'check --read-data', target: null, bytes: (tool) => repoSizes.end?.[tool] ?? null },
};
const repoSizes = {};
let dataset = { files: 0, bytes: 0, dirs: 0, du: 0 };
let mutated = { files: 0, bytes: 0, dirs: 0 };
let genSeconds = Number.NaN;
let mutateSeconds = Number.NaN;
const restoreChecks = {};
/** The file system the runs use (makeScratchFs). */
let scratch = { kind: 'none', detail: 'not set up', release: () => undefined };
/** Every timed run of a repeated step: runs[step][tool] = [{ seconds, peakBytes, cpu, ok }]. */
const runs = {};

function record(step, tool, r) {
  runs[step] ??= { zapas: [], restic: [] };
  runs[step][tool].push(r);
}

/**
 * Extra rounds of the initial backup (each into a fresh repository, of the data set as it is now, i.e.
 * after the mutation) and of the restore (from the main repositories), alternating which tool goes
 * first. One run per tool on a noisy 2-core machine can be off by 2x; the median of REPEAT is steadier.
 */
function repeatRounds() {
  for (let round = 1; round < REPEAT; round++) {
    const order = round % 2 === 0 ? ['zapas', 'restic'] : ['restic', 'zapas'];
    for (const tool of order) {
      const repo = path.join(FS, `repeat-repo-${tool}`);
      rmSync(repo, { recursive: true, force: true });
      const init = spawnSync(TOOLS[tool].init(repo)[0], TOOLS[tool].init(repo).slice(1), {
        env: { ...process.env, ...TOOLS[tool].env },
        encoding: 'utf8',
      });
      if (init.status !== 0) {
        failures.push(`${tool} init of ${repo} for a repeated round failed: ${tail(init.stderr)}`);
        continue;
      }
      log(`  initial (round ${round + 1}): ${tool} …`);
      const b = measured(`initial-round${round + 1}-${tool}`, TOOLS[tool].backup(repo), TOOLS[tool].env);
      if (!b.ok) failures.push(`${tool} initial backup, round ${round + 1}, failed; logs: ${b.logBase}.*`);
      record('initial', tool, b);
      rmSync(repo, { recursive: true, force: true });
      const target = path.join(FS, `repeat-restore-${tool}`);
      log(`  restore (round ${round + 1}): ${tool} …`);
      const r = measured(`restore-round${round + 1}-${tool}`, TOOLS[tool].restore(target), TOOLS[tool].env);
      if (!r.ok) failures.push(`${tool} restore, round ${round + 1}, failed; logs: ${r.logBase}.*`);
      record('restore', tool, r);
      rmSync(target, { recursive: true, force: true });
    }
  }
}

function runStep(step, phaseIndex, makeArgv) {
  const order = phaseIndex % 2 === 0 ? ['zapas', 'restic'] : ['restic', 'zapas'];
  results[step] = {};
  for (const tool of order) {
    const argv = makeArgv(tool);
    log(`  ${step}: ${tool} …`);
    const r = measured(`${step}-${tool}`, argv, TOOLS[tool].env);
    if (step === 'initial' || step === 'noop' || step === 'incremental') {
      r.summary = TOOLS[tool].summary(r.stdout);
      if (r.ok && !r.summary)
        notes.push(`${tool} ${step}: no JSON summary found in its output (${r.logBase}.stdout)`);
    }
    results[step][tool] = r;
    if (step === 'initial' || step === 'restore') record(step, tool, r);
    const peak = (r.peakBytes / MiB).toFixed(0);
    if (r.ok)
      log(`  ${step}: ${tool} ${r.seconds.toFixed(2)} s, peak ${peak} MiB, cpu ${r.cpu.toFixed(1)} s`);
    else {
      const why = r.timedOut ? `timed out after ${STEP_TIMEOUT} s` : `exit code ${r.rc}`;
      const output = tail(r.stderr || r.stdout).trim() ? `\n${indent(tail(r.stderr || r.stdout))}` : '';
      failures.push(`${tool} ${step} failed (${why}); logs: ${r.logBase}.{stdout,stderr}${output}`);
      log(`  ${step}: ${tool} FAILED (${why}) after ${r.seconds.toFixed(2)} s${output}`);
    }
  }
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
}

function main() {
  log(
    `files-bench: scale ${SCALE}, work folder ${path.relative(ROOT, WORK)}/, zapas on Node ${capture(NODE, ['--version'])}, ${capture('restic', ['version'])}`,
  );
  unmountStale(FS);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  measured = makeMeasurer({ work: WORK, logs: LOGS, root: ROOT, timeoutSeconds: STEP_TIMEOUT });
  // Room for the data set, both repositories and two restored copies at a time, with a margin.
  scratch = makeScratchFs(FS, path.join(WORK, 'fs.img'), Math.max(4, Math.ceil(10 * SCALE)) * 1024 ** 3);
  log(`  data, repositories and restore targets on ${scratch.detail}`);

  // 1. Data set
  let t0 = process.hrtime.bigint();
  const gen = spawnSync('python3', [GEN, DATA, '--scale', String(SCALE)], { stdio: 'inherit' });
  genSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (gen.status !== 0) {
    failures.push(`gen-dataset.py ${DATA} --scale ${SCALE} failed (exit ${gen.status})`);
    return;
  }
  // gen-dataset.py makes int(10 * scale) log files: none below scale 0.1, and then `--mutate` divides by zero
  // (logs[n % len(logs)]). Seed one small log made by the generator's own log_block() so tiny runs can mutate.
  const logsDir = path.join(DATA, 'logs');
  if (existsSync(logsDir) && readdirSync(logsDir).length === 0) {
    const seed = spawnSync(
      'python3',
      [
        '-c',
        `import importlib.util, random, sys
spec = importlib.util.spec_from_file_location("gen", sys.argv[1]); g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
r = random.Random(7)
with open(sys.argv[2], "wb") as f:
    while f.tell() < (1 << 20):
        f.write(g.log_block(r, 2000))`,
        GEN,
        path.join(logsDir, 'api-00.log'),
      ],
      { stdio: 'inherit' },
    );
    if (seed.status !== 0) failures.push('seeding logs/api-00.log for a tiny scale failed');
    notes.push(
      `scale ${SCALE} makes no log files (gen-dataset.py creates int(10*scale)) and --mutate would then fail; the bench seeded logs/api-00.log (1 MiB, same generator)`,
    );
  }
  dataset = { ...walk(DATA), du: duBytes(DATA) };
  log(
    `data set: ${dataset.files} files, ${(dataset.bytes / MiB).toFixed(1)} MiB in files (du -sb ${(dataset.du / MiB).toFixed(1)} MiB), generated in ${genSeconds.toFixed(1)} s`,
  );

  // 2. Both tools, phase by phase, alternating who goes first.
  let phase = 0;
  runStep('init', phase++, (tool) => TOOLS[tool].init());
  const cfg = spawnSync('restic', [...rRepo, 'cat', 'config'], {
    encoding: 'utf8',
    env: { ...process.env, ...resticEnv },
  });
  try {
    const version = JSON.parse(cfg.stdout).version;
    if (version !== 2)
      failures.push(`restic repository has format version ${version}, not 2 (no compression)`);
    else log('  restic repository: format version 2 (compression available)');
  } catch {
    failures.push(`could not read the restic repository config: ${tail(cfg.stderr)}`);
  }

  runStep('initial', phase++, (tool) => TOOLS[tool].backup());
  repoSizes.initial = { zapas: duBytes(TOOLS.zapas.repo), restic: duBytes(TOOLS.restic.repo) };
  runStep('noop', phase++, (tool) => TOOLS[tool].backup());

  t0 = process.hrtime.bigint();
  const mut = spawnSync('python3', [GEN, DATA, '--mutate', '1'], { stdio: 'inherit' });
  mutateSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (mut.status !== 0) failures.push(`gen-dataset.py ${DATA} --mutate 1 failed (exit ${mut.status})`);
  mutated = walk(DATA);
  log(
    `mutation round 1 applied in ${mutateSeconds.toFixed(1)} s: now ${mutated.files} files, ${(mutated.bytes / MiB).toFixed(1)} MiB`,
  );
  runStep('incremental', phase++, (tool) => TOOLS[tool].backup());
  repoSizes.incremental = { zapas: duBytes(TOOLS.zapas.repo), restic: duBytes(TOOLS.restic.repo) };

  const targets = { zapas: path.join(FS, 'restore-zapas'), restic: path.join(FS, 'restore-restic') };
  runStep('restore', phase++, (tool) => TOOLS[tool].restore(targets[tool]));
  // Untimed: the restored tree must equal the (mutated) source.
  for (const tool of ['zapas', 'restic']) {
    if (!results.restore[tool].ok) {
      restoreChecks[tool] = 'not compared (restore failed)';
      continue;
    }
    const dir = restoredDataDir(targets[tool]);
    if (!dir) {
      restoreChecks[tool] = 'DIFFERS: restored data folder not found';
      failures.push(
        `${tool} restore: no data folder (with saves/) under ${path.relative(ROOT, targets[tool])}`,
      );
      continue;
    }
    const d = spawnSync('diff', ['-r', '-q', '--no-dereference', DATA, dir], {
      encoding: 'utf8',
      maxBuffer: 64 * MiB,
    });
    if (d.status === 0) {
      const w = walk(dir);
      restoreChecks[tool] = `identical (diff -r: ${w.files} files, ${(w.bytes / MiB).toFixed(1)} MiB)`;
      log(`  restore: ${tool} tree equals the source (${path.relative(ROOT, dir)})`);
    } else {
      const lines = (d.stdout + d.stderr).trim().split('\n');
      restoreChecks[tool] = `DIFFERS: ${lines.length} diff line(s)`;
      writeFileSync(path.join(LOGS, `restore-diff-${tool}.txt`), d.stdout + d.stderr);
      failures.push(
        `${tool} restore differs from the source (${lines.length} lines, bench/work/logs/restore-diff-${tool}.txt):\n${indent(lines.slice(0, 10).join('\n'))}`,
      );
      log(`  restore: ${tool} DIFFERS from the source:\n${indent(lines.slice(0, 10).join('\n'))}`);
    }
  }
  // Free the disk before check; the restored trees are no longer needed.
  for (const t of Object.values(targets)) rmSync(t, { recursive: true, force: true });

  runStep('check', phase++, (tool) => TOOLS[tool].check());
  repoSizes.end = { zapas: duBytes(TOOLS.zapas.repo), restic: duBytes(TOOLS.restic.repo) };
  repeatRounds();
}

// ---------------------------------------------------------------------------------------------------------
// Report

const fmt = (n, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '–');
const mib = (b) => (Number.isFinite(b) && b !== null ? (b / MiB).toFixed(1) : '–');

function stepTable() {
  const rows = [
    '| step | zapas s | restic s | speed ratio (restic/zapas) | target | zapas MiB/s | restic MiB/s | zapas peak MiB | restic peak MiB | zapas CPU s | restic CPU s |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [step, info] of Object.entries(STEP_INFO)) {
    const z = results[step]?.zapas;
    const r = results[step]?.restic;
    if (!z && !r) continue;
    // A repeated step shows the median time and CPU of its runs, and the highest peak.
    const many = (tool) => (runs[step]?.[tool]?.length ?? 0) > 1 && runs[step][tool].every((x) => x.ok);
    const summary = (x, tool) =>
      x && many(tool)
        ? {
            ...x,
            seconds: median(runs[step][tool].map((y) => y.seconds)),
            cpu: median(runs[step][tool].map((y) => y.cpu)),
            peakBytes: Math.max(...runs[step][tool].map((y) => y.peakBytes)),
          }
        : x;
    const zm = summary(z, 'zapas');
    const rm = summary(r, 'restic');
    const zs = zm?.ok ? zm.seconds : Number.NaN;
    const rs = rm?.ok ? rm.seconds : Number.NaN;
    const ratio = rs / zs;
    let target = '–';
    if (info.target !== null) {
      target = `≥ ${info.target.toFixed(1)}x ${Number.isFinite(ratio) ? (ratio >= info.target ? 'met' : '**missed**') : '**n/a**'}`;
    }
    const tp = (tool, s) => {
      const b = info.bytes(tool);
      return b && Number.isFinite(s) ? fmt(b / MiB / s, 1) : '–';
    };
    const cell = (x, s) =>
      x ? (x.ok ? fmt(s) : `FAILED (${x.timedOut ? 'timeout' : `exit ${x.rc}`})`) : '–';
    const peak = (x) => (x ? fmt(x.peakBytes / MiB, 0) : '–');
    const zPeak = zm ? (zm.peakBytes < 300e6 ? peak(zm) : `**${peak(zm)}**`) : '–';
    const title =
      many('zapas') && many('restic') ? `${info.title} (median of ${runs[step].zapas.length})` : info.title;
    rows.push(
      `| ${title} | ${cell(zm, zs)} | ${cell(rm, rs)} | ${Number.isFinite(ratio) ? `${fmt(ratio)}x` : '–'} | ${target} | ${tp('zapas', zs)} | ${tp('restic', rs)} | ${zPeak} | ${peak(rm)} | ${zm ? fmt(zm.cpu, 1) : '–'} | ${rm ? fmt(rm.cpu, 1) : '–'} |`,
    );
  }
  return rows.join('\n');
}

/** Every run of the repeated steps, so a median can be checked against its spread. */
function runsTable() {
  const rows = ['| step | tool | runs (s, in order) | peaks (MiB) |', '|---|---|---|---|'];
  for (const [step, byTool] of Object.entries(runs)) {
    for (const [tool, list] of Object.entries(byTool)) {
      const secs = list.map((x) => (x.ok ? fmt(x.seconds) : 'failed')).join(', ');
      rows.push(
        `| ${STEP_INFO[step].title} | ${tool} | ${secs} | ${list.map((x) => fmt(x.peakBytes / MiB, 0)).join(', ')} |`,
      );
    }
  }
  return rows.join('\n');
}

function repoTable() {
  const rows = [
    '| repository size (du -sb) | zapas MiB | restic MiB | zapas/restic | target |',
    '|---|---:|---:|---:|---|',
  ];
  const label = {
    initial: 'after initial backup',
    incremental: 'after incremental backup',
    end: 'at the end',
  };
  for (const [k, v] of Object.entries(repoSizes)) {
    const ratio = v.zapas / v.restic;
    rows.push(
      `| ${label[k]} | ${mib(v.zapas)} | ${mib(v.restic)} | ${fmt(ratio, 3)} | ≤ 1.05 ${Number.isFinite(ratio) ? (ratio <= 1.05 ? 'met' : '**missed**') : ''} |`,
    );
  }
  return rows.join('\n');
}

function countsTable() {
  const rows = [
    '| backup | tool | new | changed | unmodified | bytes processed | bytes added (as the tool reports it) | tool-reported duration s |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const step of ['initial', 'noop', 'incremental']) {
    for (const tool of ['zapas', 'restic']) {
      const s = results[step]?.[tool]?.summary;
      if (!s) {
        rows.push(`| ${STEP_INFO[step].title} | ${tool} | – | – | – | – | – | – |`);
        continue;
      }
      rows.push(
        `| ${STEP_INFO[step].title} | ${tool} | ${s.new} | ${s.changed} | ${s.unmodified} | ${s.processed} | ${s.added} | ${fmt(s.toolMs / 1000)} |`,
      );
    }
    const z = results[step]?.zapas?.summary;
    const r = results[step]?.restic?.summary;
    if (
      z &&
      r &&
      (z.new !== r.new ||
        z.changed !== r.changed ||
        z.unmodified !== r.unmodified ||
        z.processed !== r.processed)
    ) {
      notes.push(
        `${STEP_INFO[step].title}: file counts disagree — zapas new/changed/unmodified ${z.new}/${z.changed}/${z.unmodified} (${z.processed} B), restic ${r.new}/${r.changed}/${r.unmodified} (${r.processed} B)`,
      );
    }
  }
  return rows.join('\n');
}

function memTotal() {
  const m = /MemTotal:\s+(\d+) kB/.exec(readText('/proc/meminfo'));
  return m ? `${(Number(m[1]) / 1024 / 1024).toFixed(1)} GiB` : 'unknown';
}

function report() {
  const totalSeconds = (Date.now() - benchStarted) / 1000;
  const counts = countsTable(); // before notes are printed: it may add some
  const command =
    process.env.npm_lifecycle_event === 'bench'
      ? `BENCH_SCALE=${scaleText} npm run bench`
      : `BENCH_SCALE=${scaleText} node bench/files-bench.mjs`;
  const cpuModel = os.cpus()[0]?.model ?? 'unknown';
  const gitRev = capture('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT });
  const dirty = capture('git', ['status', '--porcelain', '--', 'lib', 'bin'], { cwd: ROOT });
  const zPeakMax = Math.max(
    0,
    ...Object.values(results).map((s) => s.zapas?.peakBytes ?? 0),
    ...Object.values(runs).flatMap((byTool) => byTool.zapas.map((x) => x.peakBytes)),
  );

  const md = `# zapas vs restic: file-tree benchmark

- date: ${new Date().toISOString()}
- machine: ${os.cpus().length} CPUs (nproc ${capture('nproc', [])}, ${cpuModel}), memory ${memTotal()} (MemTotal), ${os.type()} ${os.release()}
- zapas: dist/zapas.cjs built from git ${gitRev}${dirty.trim() ? ` with uncommitted changes in ${dirty.split('\n').length} lib/bin file(s)` : ''}, run on Node ${capture(NODE, ['--version'])}
- restic: ${capture('restic', ['version'])}; repository format version 2, \`--compression auto\`
- command: \`${command}\` (from the project root)
- file system: data, repositories and restore targets on ${scratch.detail} (see bench/scratch-fs.mjs for why)
- data set: \`python3 bench/gen-dataset.py bench/work/fs/data --scale ${SCALE}\`: ${dataset.files} files in ${dataset.dirs} folders, ${mib(dataset.bytes)} MiB of file data (du -sb ${mib(dataset.du)} MiB), generated in ${fmt(genSeconds, 1)} s; after \`--mutate 1\` (${fmt(mutateSeconds, 1)} s): ${mutated.files} files, ${mib(mutated.bytes)} MiB
- total bench time: ${fmt(totalSeconds, 1)} s
- result: ${failures.length === 0 ? 'all commands succeeded, both restores equal the source' : `**${failures.length} failure(s)**, see below`}

## Steps

${stepTable()}

Targets: initial backup ≥ 1.5x, restore ≥ 1.5x, incrementals ≥ 1.0x, repository ≤ restic + 5 %, zapas peak memory < 300 MB (286 MiB; peaks at or above it are in bold). Highest zapas peak in this run: ${fmt(zPeakMax / MiB, 0)} MiB (${zPeakMax < 300e6 ? 'met' : '**missed**'}).
${
  Object.keys(runs).length > 0 && REPEAT > 1
    ? `
Initial backup and restore ran ${REPEAT} times per tool (\`BENCH_REPEAT\`); the table above shows the median time and
CPU and the highest peak. The first run is the one in the sequence above; the extra rounds back up the data set
after its mutation into a fresh repository, and restore from the main one, alternating which tool goes first:

${runsTable()}
`
    : ''
}
## Repository size

${repoTable()}

## Backup summaries (cross-check)

${counts}

Restore check (untimed, \`diff -r\` of the data folder against the restored one): zapas ${restoreChecks.zapas ?? 'not run'}; restic ${restoreChecks.restic ?? 'not run'}.

${
  failures.length > 0
    ? `## Failures\n\n${failures
        .map(
          (f) =>
            `- ${f.split('\n')[0]}${
              f.includes('\n')
                ? `\n\n\`\`\`\n${f
                    .split('\n')
                    .slice(1)
                    .map((l) => l.trim())
                    .join('\n')}\n\`\`\``
                : ''
            }`,
        )
        .join('\n')}\n\n`
    : ''
}${notes.length > 0 ? `## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}\n\n` : ''}## How to read this

Each step ran once per tool (initial backup and restore: see above), each tool against its own repository on the same file system, with \`sync\` before
every timed command and the order of the two tools alternating from step to step (so neither always gets the warmer
cache; the page cache is not dropped, so the data set is mostly read from memory at this size). Seconds are wall-clock
time of the whole command, start-up and key derivation included. The speed ratio is restic's time divided by zapas's:
above 1 zapas is faster. MiB/s is the data set size (file bytes, before or after mutation as fits the step) divided by
the time — for the no-op and incremental backups it is the rate of going over the whole tree, not of new data; for
check it is the repository size. Peak MiB is the largest resident set of any process in the command's process tree
(\`getrusage(RUSAGE_CHILDREN).ru_maxrss\`), CPU s is user + system time. Repository sizes are \`du -sb\` of the
repository folders; "bytes added" in the cross-check table is what each tool reports (restic 0.14 reports data before
compression, zapas after). Each figure is a single run on a possibly busy machine: on the 2-CPU box these numbers were
first taken on, the same restic command varied by up to 2x between runs, so rerun before concluding anything about a
ratio near its target. Raw outputs of every command are in bench/work/logs/ until the next run.
`;
  // The PostgreSQL bench's part of the file (after its marker) stays as it was.
  const existing = readText(RESULTS);
  const pgPart = existing.includes(PG_MARK) ? existing.slice(existing.indexOf(PG_MARK)) : '';
  writeFileSync(RESULTS, pgPart ? `${md.trimEnd()}\n\n${pgPart}` : md);
  // The project lints Markdown too (`biome check .` in npm test): align the tables the way biome wants them.
  const biome = path.join(ROOT, 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', RESULTS], { cwd: ROOT, stdio: 'ignore' });
  log(`\n${readText(RESULTS) || md}`);
  log(`wrote ${path.relative(ROOT, RESULTS)}; total bench time ${fmt(totalSeconds, 1)} s`);
}

try {
  main();
} catch (e) {
  failures.push(`bench script error: ${e?.stack ?? e}`);
} finally {
  try {
    scratch.release();
  } catch (e) {
    notes.push(`could not release the bench's file system: ${e.message}`);
  }
}
report();
if (failures.length > 0) {
  process.stderr.write(
    `\nfiles-bench: ${failures.length} failure(s):\n${failures.map((f) => `- ${f}`).join('\n')}\n`,
  );
  process.exit(1);
}
