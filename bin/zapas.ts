// The zapas command's entry: picks the bundle a command line needs and runs it. `npm run build` makes
// dist/zapas.cjs of it (a script for Node 24, its bundles beside it) and dist/zapas, the self-contained
// executable that carries Node, the bundles, the worker-thread bundle and the BLAKE3 addon.
import { BUNDLES, bundleFor, loadBundle, workerScriptFor } from '../lib/cli/bundles';
import { processIo } from '../lib/cli/io';
import { restartWithMallocSettings } from '../lib/cli/malloc-settings';

// zstd and file reads run on libuv's pool: a few more threads than cores keep both busy during a backup.
process.env.UV_THREADPOOL_SIZE ??= '6';

// A reader that went away (`zapas ls … | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const argv = process.argv.slice(2);
const bundle = bundleFor(argv);
// wal-push and wal-fetch do not need them, and their start-up is what PostgreSQL waits for.
if (bundle === 'cli') restartWithMallocSettings();
const io = processIo(workerScriptFor(__dirname));
Promise.resolve()
  .then(() => loadBundle(BUNDLES[bundle], __dirname, io).start(argv, io))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`zapas: internal error: ${(err as Error)?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
