// The whole CLI as one bundle (dist/zapas-cli.cjs), run by bin/zapas.ts for every verb but wal-push and
// wal-fetch.
import type { Io } from '../lib/cli/io';
import { main } from '../lib/cli/main';
import { exitOnSignals } from '../lib/cli/signals';
import { VERBS } from '../lib/cli/verbs';

/** Runs one command line with the full command table; SIGINT and SIGTERM release its locks first. */
export function start(argv: readonly string[], io: Io): Promise<number> {
  exitOnSignals(io.stderr);
  return main(argv, io, VERBS, { stopsOnSignals: true });
}
