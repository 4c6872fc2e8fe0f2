// Bundles the CLI into dist/ with esbuild: one file that starts fast (archive_command runs it per WAL segment).
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';
import { buildExecutable } from './build-executable.mjs';

// The command sets its own V8 flags, as a launcher script would (they are process-wide: worker threads
// get them too). Measured on the benchmark's initial backup (peak RSS, same run):
// - a small, fixed young generation (4 MiB semi-spaces; worker threads set their own): V8's default
//   (growing to 16 MiB) let the main thread's heap grow by about 170 MB (514 against 683 MB then), and
//   2 MiB spent a quarter of the main thread's time in scavenges on a folder of 20,000 saves;
// - heap growth factor 2 instead of V8's dynamic one (up to 4): after a collection the heap may only
//   double before the next, which cut the peak by about 35 MB (265 against 300 MB), no slower;
// - and, for glibc, two malloc arenas instead of one per thread (8 per core): worker threads, V8's and
//   libuv's helper threads each kept freed memory in an arena of their own (about 15 MB less, no slower);
// - and a fixed mmap threshold of 1 MiB: glibc otherwise raises it after each large free, until 16 MiB
//   pack reads come from the arenas and stay there fragmented (check: 295 -> 235 MB; restore: 280 ->
//   250 MB; a little more time in page faults, as large buffers are new memory each time).
const V8_FLAGS = ['--min-semi-space-size=4', '--max-semi-space-size=4', '--heap-growing-percent=100'];
const SHEBANG = `#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576 node ${V8_FLAGS.join(' ')}`;
/** The Node the script needs (the one the tests run on); the executable carries its own. */
const NODE_MAJOR_NEEDED = 24;
// The first statement of the script, in syntax any Node parses: an older Node (the system's, or the one
// on PostgreSQL's PATH) gets one line saying what to run instead of a stack trace from deep inside.
const NODE_CHECK = `if (+process.versions.node.split('.')[0] < ${NODE_MAJOR_NEEDED}) {
  process.stderr.write('zapas: needs Node.js ${NODE_MAJOR_NEEDED} or newer (this is ' + process.versions.node + ' at ' + process.execPath + '); run ' + require('path').join(__dirname, 'zapas') + ', the self-contained executable\\n');
  process.exit(2);
}`;

/** What every bundle shares: self-contained CommonJS for Node 22+, a linked source map. */
const COMMON = {
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: 'linked',
  // A native addon (.node) cannot be bundled: it is loaded from node_modules at run time.
  external: ['@napi-rs/blake-hash'],
  logLevel: 'warning',
};

// dist/zapas.cjs only picks the bundle a command line needs: the whole CLI, or wal-push and wal-fetch
// alone (PostgreSQL runs those per WAL segment; a tenth of the code). Worker threads run zapas-worker.cjs.
const CLI_BUNDLES = {
  'zapas-cli': 'bin/zapas-cli.ts',
  'zapas-wal': 'bin/zapas-wal.ts',
  'zapas-worker': 'bin/zapas-worker.ts',
};
await Promise.all([
  build({ ...COMMON, entryPoints: { zapas: 'bin/zapas.ts' }, banner: { js: `${SHEBANG}\n${NODE_CHECK}` } }),
  build({ ...COMMON, entryPoints: CLI_BUNDLES }),
]);
await chmod('dist/zapas.cjs', 0o755);

// dist/zapas: the same command as one self-contained executable (no Node needed on PATH).
const started = performance.now();
const injected = await buildExecutable({
  entry: 'dist/zapas.cjs',
  bundles: ['dist/zapas-cli.cjs', 'dist/zapas-wal.cjs'],
  worker: 'dist/zapas-worker.cjs',
  out: 'dist/zapas',
  v8Flags: V8_FLAGS,
});
if (injected)
  process.stdout.write(`built dist/zapas in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);

// The stage functions and the agent: one self-contained CommonJS file each, in a folder of its own
// (dist/functions/<stage>/index.cjs: the folder is what a Lambda asset or a Cloud Functions zip holds;
// both Node runtimes load `index.handler` from it), no shebang. Every functions/<stage>/handler.ts is one.
const stages = readdirSync('functions', { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(`functions/${d.name}/handler.ts`))
  .map((d) => d.name);
const entries = Object.fromEntries(stages.map((s) => [`functions/${s}/index`, `functions/${s}/handler.ts`]));
if (existsSync('functions/agent/main.ts')) {
  stages.push('agent');
  entries['functions/agent/index'] = 'functions/agent/main.ts';
}
await build({ ...COMMON, entryPoints: entries });
// The one native addon cannot be bundled: each function folder carries it (and its linux-x64 binary, the
// platform both clouds' Node runtimes run on), so that the folder alone is a deployable package.
for (const stage of stages)
  for (const pkg of ['blake-hash', 'blake-hash-linux-x64-gnu'])
    if (existsSync(`node_modules/@napi-rs/${pkg}`))
      cpSync(`node_modules/@napi-rs/${pkg}`, `dist/functions/${stage}/node_modules/@napi-rs/${pkg}`, {
        recursive: true,
        dereference: true,
      });
