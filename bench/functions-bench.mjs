// The stage functions as the clouds load them: each bundle's size and its init time (require in a fresh
// node: a cold start's own share), and the ingest throughput of one function instance (bench/ingest-part.ts:
// one thread, 32 MiB parts, local landing folder and repository, so the figure is the CPU's, not a network's).
// Writes the `<!-- bench:functions -->` section of bench/results.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleScript } from '../scripts/bundle-script.js';
import { initMs, writeSection } from './results-section.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const MARK = '<!-- bench:functions -->';
const MIB = Number(process.env.BENCH_INGEST_MIB ?? 128);
const _median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const folderBytes = (dir) =>
  readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && !d.name.endsWith('.map'))
    .reduce((n, d) => n + statSync(path.join(d.parentPath, d.name)).size, 0);

const rows = [];
for (const stage of readdirSync(path.join(ROOT, 'dist', 'functions'))) {
  const file = path.join(ROOT, 'dist', 'functions', stage, 'index.cjs');
  if (!existsSync(file) || stage === 'agent') continue;
  rows.push({ stage, bundle: statSync(file).size, pkg: folderBytes(path.dirname(file)), init: initMs(file) });
}

const work = mkdtempSync(path.join(os.tmpdir(), 'zapas-ingest-bench-'));
const script = path.join(work, 'ingest-part.cjs');
await bundleScript(path.join(ROOT, 'bench', 'ingest-part.ts'), script, {
  external: ['@napi-rs/blake-hash'],
  nodePaths: [path.join(ROOT, 'node_modules')],
});
const runs = [];
for (let i = 0; i < 3; i++) {
  rmSync(path.join(work, 'landing'), { recursive: true, force: true });
  rmSync(path.join(work, 'repo'), { recursive: true, force: true });
  const r = spawnSync(process.execPath, [script, work, String(MIB)], {
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
  });
  if (r.status !== 0) throw new Error(`ingest bench failed: ${r.stderr}`);
  runs.push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
}
rmSync(work, { recursive: true, force: true });
const ingest = runs.sort((a, b) => a.mbPerSecond - b.mbPerSecond)[1];

const sha = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
const section = `${MARK}
# Stage functions: bundles, init, ingest throughput

- date: ${new Date().toISOString()}; git ${sha}; Node ${process.version}; command: \`npm run bench:functions\`

| function | bundle | package (bundle + native addon, no map) | init (require in a fresh node, median of 5) |
| --- | ---: | ---: | ---: |
${rows.map((r) => `| ${r.stage} | ${(r.bundle / 2 ** 20).toFixed(2)} MiB | ${(r.pkg / 2 ** 20).toFixed(2)} MiB | ${r.init.toFixed(0)} ms |`).join('\n')}

Ingest, one function instance (one thread, no worker pool, as in a function), ${ingest.parts} parts of 32 MiB of a ${(ingest.bytes / 2 ** 20).toFixed(0)} MiB export (half random, half a repetitive NDJSON), local landing folder and repository, median of 3 runs: **${ingest.mbPerSecond.toFixed(1)} MB/s** including the commit (${ingest.secondsTotal.toFixed(2)} s), peak RSS ${ingest.peakRssMiB.toFixed(0)} MiB. In the cloud each part is one invocation, so throughput scales with the instances the ingest queue feeds; reading the part from object storage adds its transfer time.
`;
writeSection(MARK, section);
process.stdout.write(section);
