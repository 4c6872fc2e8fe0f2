// wal-push and wal-fetch alone (dist/zapas-wal.cjs): PostgreSQL runs them once per WAL segment, so they
// load neither the rest of the CLI nor its dependencies (config, scheduling, serve, deploy, base backup).
import type { Io } from '../lib/cli/io';
import { main } from '../lib/cli/main';
import { WAL_VERBS } from '../lib/cli/verbs/pg/wal-verbs';

/** Runs `zapas [global options] pg wal-push|wal-fetch …`. */
export function start(argv: readonly string[], io: Io): Promise<number> {
  return main(argv, io, WAL_VERBS);
}
