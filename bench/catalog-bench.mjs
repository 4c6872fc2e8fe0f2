// npm run bench:catalog — the embedded catalog (SQLite, a sync of the log at every commit) under a serve's
// load: a job round (create, start, finish, list the source's newest 20) on a file holding 0, 10k and 100k
// finished jobs, alone and with a second process writing to the same file all along; per round and per
// call, and the event loop's delay meanwhile (node:sqlite's calls are synchronous). Writes its section of
// bench/results.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleScript } from '../scripts/bundle-script.js';
import { writeSection } from './results-section.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const MARK = '<!-- bench:catalog -->';
const SIZES = (process.env.BENCH_CATALOG_JOBS ?? '0,10000,100000').split(',').map(Number);

const work = mkdtempSync(path.join(os.tmpdir(), 'zapas-catalog-bench-'));
const script = path.join(work, 'catalog-round.cjs');
await bundleScript(path.join(ROOT, 'bench', 'catalog-round.ts'), script);
const rows = [];
for (const jobs of SIZES)
  for (const contend of ['alone', 'contend']) {
    const r = spawnSync(process.execPath, [script, 'round', String(jobs), contend], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`catalog bench failed: ${r.stderr}`);
    rows.push(JSON.parse(r.stdout.trim().split('\n').at(-1)));
    process.stderr.write(`${r.stdout}`);
  }
rmSync(work, { recursive: true, force: true });

const ms = (x) => x.toFixed(2);
const sha = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
const section = `${MARK}
# The embedded catalog under load

- date: ${new Date().toISOString()}; git ${sha}; Node ${process.version}; command: \`npm run bench:catalog\`; database in the temporary folder (${os.tmpdir()}), ${rows[0].rounds} rounds each

| jobs in the file | another process writing (changes/s) | rounds/s | round p50 | round p99 | one call p50 | one call p99 | one call max | event-loop delay p99 | max |
| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.map((r) => `| ${r.jobs} | ${r.contended ? r.otherChangesPerSecond.toFixed(0) : 'no'} | ${r.roundsPerSecond.toFixed(0)} | ${ms(r.roundMsP50)} ms | ${ms(r.roundMsP99)} ms | ${ms(r.callMsP50)} ms | ${ms(r.callMsP99)} ms | ${ms(r.callMsMax)} ms | ${ms(r.loopDelayMsP99)} ms | ${ms(r.loopDelayMsMax)} ms |`).join('\n')}

A round is create, start, finish (three commits, each synced to disk before it returns) and a listing of the source's newest 20 jobs. A call holds serve's event loop for its own duration (node:sqlite is synchronous), so "one call max" is the longest an HTTP request or a timer waited behind the catalog; with another process writing, a call also waits for that process's transactions (bounded by the busy timeout, 5 s). SQLite's write lock is not fair: a second process writing in a tight loop (taking the lock again the instant it let it go) kept this one waiting past 5 s in a trial, so its changes failed with CatalogBusyError; the other writer here pauses 1 ms between its rounds.
`;
writeSection(MARK, section);
process.stdout.write(section);
