// Shared by the benchmarks that own one section of bench/results.md, and the cold-start measure.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const RESULTS = path.join(ROOT, 'bench', 'results.md');

/** Replaces the section that starts with `mark` (up to the next `<!-- bench:` mark) with `section`. */
export function writeSection(mark, section) {
  const current = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : '';
  const start = current.indexOf(mark);
  const next = start >= 0 ? current.indexOf('<!-- bench:', start + mark.length) : -1;
  const before = start >= 0 ? current.slice(0, start) : current;
  const after = next >= 0 ? current.slice(next) : '';
  writeFileSync(RESULTS, `${before.trimEnd()}\n\n${section}${after ? `\n${after}` : ''}`);
  const biome = path.join(ROOT, 'node_modules', '.bin', 'biome');
  if (existsSync(biome)) spawnSync(biome, ['format', '--write', RESULTS], { cwd: ROOT, stdio: 'ignore' });
}

/** Median time to require `file` in a fresh node (a cold start's init), over `n` processes. */
export function initMs(file, n = 5) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const t = performance.now(); require(${JSON.stringify(file)}); process.stdout.write(String(performance.now() - t))`,
      ],
      { encoding: 'utf8' },
    );
    times.push(Number(r.stdout));
  }
  return times.sort((a, b) => a - b)[Math.floor(n / 2)];
}
