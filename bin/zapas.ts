// The zapas command. Bundled to dist/zapas.cjs by `npm run build`; its worker threads run dist/zapas-worker.cjs.
import { join } from 'node:path';
import { processIo } from '../lib/cli/io';
import { main } from '../lib/cli/main';
import { exitOnSignals } from '../lib/cli/signals';

// zstd and file reads run on libuv's pool: a few more threads than cores keep both busy during a backup.
process.env.UV_THREADPOOL_SIZE ??= '6';

// A reader that went away (`zapas ls … | head`) is not an error of ours.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

exitOnSignals(process.stderr);

main(process.argv.slice(2), processIo(join(__dirname, 'zapas-worker.cjs'))).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`zapas: internal error: ${(err as Error)?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
