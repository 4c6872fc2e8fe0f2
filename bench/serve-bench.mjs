// npm run bench:serve — the service's overhead on one machine: the benchmark data set backed up by the
// plain CLI and by `zapas serve` (POST /v1/sources/bench/backups until the job succeeds), alternating,
// each on a fresh repository; plus the orchestrator's latency from request to job start, the bundle's
// size and the command's cold start. Writes its section of bench/results.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { median } from './measure.mjs';
import { initMs, writeSection } from './results-section.mjs';
import { startServe } from './serve-process.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.join(ROOT, 'bench', 'work-serve');
const DATA = path.join(WORK, 'data');
const GEN = path.join(ROOT, 'bench', 'gen-dataset.py');
const ZAPAS = path.join(ROOT, 'dist', 'zapas.cjs');
const SCALE = process.env.BENCH_SCALE ?? '0.5';
const ROUNDS = Number(process.env.BENCH_REPEAT ?? 3);
const MARK = '<!-- bench:serve -->';
const PASSWORD = 'bench password';
const env = { ...process.env, ZAPAS_PASSWORD: PASSWORD };
const log = (s) => process.stderr.write(`${s}\n`);

function zapas(args, extraEnv = {}) {
  const r = spawnSync(process.execPath, [ZAPAS, ...args], { env: { ...env, ...extraEnv }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`zapas ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

function freshRepo(name) {
  const repo = path.join(WORK, name);
  rmSync(repo, { recursive: true, force: true });
  zapas(['init'], { ZAPAS_REPOSITORY: repo });
  return repo;
}

function cliBackup() {
  const repo = freshRepo('repo-cli');
  spawnSync('sync');
  const t0 = performance.now();
  zapas(['backup', DATA, '--source', 'bench', '--quiet'], { ZAPAS_REPOSITORY: repo });
  return (performance.now() - t0) / 1000;
}

async function serveBackup() {
  const repo = freshRepo('repo-serve');
  const state = path.join(WORK, 'state');
  rmSync(state, { recursive: true, force: true });
  const config = path.join(WORK, 'zapas.yaml');
  writeFileSync(
    config,
    `version: 1\nrepositories:\n  main: { url: "${repo}", residency: RU }\nsources:\n  bench:\n    type: files\n    paths: ["${DATA}"]\n    repository: main\n    dataClass: game-content\n`,
  );
  const { child, url, stderr } = await startServe(
    ZAPAS,
    ['--config', config, '--port', '0', '--tick', '1', '--state', state],
    env,
  );
  try {
    // Steady state: the start-up pass (which runs the purge slot missed before start) is over.
    const ready = Date.now() + 20_000;
    while (!/purge of repository/.test(stderr()) && Date.now() < ready)
      await new Promise((res) => setTimeout(res, 50));
    spawnSync('sync');
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/sources/bench/backups`, { method: 'POST' });
    const { job } = await r.json();
    for (;;) {
      const { job: j } = await (await fetch(`${url}/v1/jobs/${job.id}`)).json();
      if (j.state === 'succeeded' || j.state === 'failed') {
        if (j.state === 'failed') throw new Error(`job failed: ${j.error}`);
        return {
          seconds: (performance.now() - t0) / 1000,
          startMs: Date.parse(j.startedAt) - Date.parse(j.createdAt),
        };
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
  }
}

async function main() {
  if (!existsSync(ZAPAS)) throw new Error('dist/zapas.cjs is missing: npm run build');
  mkdirSync(WORK, { recursive: true });
  if (!existsSync(path.join(WORK, `data-scale-${SCALE}`))) {
    rmSync(DATA, { recursive: true, force: true });
    log(`generating the data set (scale ${SCALE}) …`);
    const g = spawnSync('python3', [GEN, DATA, '--scale', SCALE], { stdio: 'inherit' });
    if (g.status !== 0) throw new Error('gen-dataset.py failed');
    writeFileSync(path.join(WORK, `data-scale-${SCALE}`), '');
  }
  const cold = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    zapas(['--version']);
    cold.push(performance.now() - t0);
  }
  // The orchestrate function's bundle: its size, and the time to load it in a fresh Node (a cold start's init).
  const FUNCTION = path.join(ROOT, 'dist', 'functions', 'orchestrate', 'index.cjs');
  const cli = [];
  const serve = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first: the page cache and the machine's noise favour neither.
    if (round % 2 === 0) {
      cli.push(cliBackup());
      serve.push(await serveBackup());
    } else {
      serve.push(await serveBackup());
      cli.push(cliBackup());
    }
    log(`round ${round + 1}: cli ${cli.at(-1).toFixed(2)} s, serve ${serve.at(-1).seconds.toFixed(2)} s`);
  }
  const c = median(cli);
  const s = median(serve.map((x) => x.seconds));
  const overhead = (s / c - 1) * 100;
  const section = `${MARK}
# zapas serve against the CLI

- date: ${new Date().toISOString()}; git ${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim()}; Node ${process.version}
- command: \`BENCH_SCALE=${SCALE} BENCH_REPEAT=${ROUNDS} npm run bench:serve\`; data set: gen-dataset.py --scale ${SCALE}; each backup into a fresh local repository, medians of ${ROUNDS}, alternating order

| measure | value |
| --- | ---: |
| initial backup, CLI (\`zapas backup\`) | ${c.toFixed(2)} s |
| initial backup through \`zapas serve\` (POST to job succeeded) | ${s.toFixed(2)} s |
| service overhead (goal < 10%) | ${overhead.toFixed(1)}% ${overhead < 10 ? 'met' : '**missed**'} |
| orchestrator latency, request to job start (median) | ${median(serve.map((x) => x.startMs)).toFixed(0)} ms |
| bundle \`dist/zapas.cjs\` | ${(statSync(ZAPAS).size / 1024 / 1024).toFixed(2)} MiB |
| cold start, \`zapas --version\` (median of 5) | ${median(cold).toFixed(0)} ms |
| function bundle \`dist/functions/orchestrate/index.cjs\` | ${(statSync(FUNCTION).size / 1024 / 1024).toFixed(2)} MiB |
| its init (require in a fresh node, median of 5) | ${initMs(FUNCTION).toFixed(0)} ms |

Both use one worker thread per core. The serve figure is taken once the service has settled (its start-up pass, which runs the purge slot missed before start, is over) and includes the HTTP request (the verification that follows each backup is not counted), the pass that starts the job, deriving the repository key (as the CLI does) and polling the job's state every 20 ms; the CLI figure includes starting its process (about 0.2 s, the cold start below), which a running service does not pay. Run-to-run spread on this machine is about ±5 points.
`;
  writeSection(MARK, section);
  log(section);
}

await main();
