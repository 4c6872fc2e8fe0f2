import { ConfigError } from '../pipeline/config/errors';
import { LockedError, RepositoryNotFoundError, WrongKeyError } from '../repo/errors';
import { ExcludeError } from '../sources/files/errors';
import { StorageUrlError } from '../storage/errors';

/** Wrong command-line use: unknown flag, missing argument, bad value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Exit codes: the contract scripts rely on (`--help` of every verb lists them). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  partial: 3,
  noRepository: 10,
  locked: 11,
  wrongKey: 12,
  /** Stopped by SIGINT (Ctrl-C), locks released: 128 + 2, as shells report it. */
  interrupted: 130,
  /** Stopped by SIGTERM, locks released: 128 + 15. */
  terminated: 143,
  /**
   * wal-fetch only: recovery must stop rather than end here (the file is damaged, a later one exists so
   * this one is a gap, or the archive cannot be read). PostgreSQL aborts recovery on a restore_command
   * exit status above 125; any other non-zero status would tell it the WAL simply ends.
   */
  walAbort: 200,
} as const;

/** The exit code of an error, mapped once here. */
export function exitCodeOf(err: unknown): number {
  if (
    err instanceof UsageError ||
    err instanceof StorageUrlError ||
    err instanceof ExcludeError ||
    err instanceof ConfigError
  )
    return EXIT.usage;
  if (err instanceof RepositoryNotFoundError) return EXIT.noRepository;
  if (err instanceof LockedError) return EXIT.locked;
  if (err instanceof WrongKeyError) return EXIT.wrongKey;
  return EXIT.failure;
}

/** Standard EXIT STATUS lines, picked per verb. */
export const EXIT_TEXT: Record<number, string> = {
  0: 'success',
  1: 'failure (the message names what failed)',
  2: 'wrong usage',
  3: 'snapshot written, but some source files could not be read, or older snapshots do not open (each named on stderr)',
  10: 'no repository at that location',
  11: 'repository locked by another process',
  12: 'wrong password or key',
  130: 'interrupted (SIGINT); its repository locks were released',
  143: 'terminated (SIGTERM); its repository locks were released',
  200: 'wal-fetch: stop recovery (damaged file, a gap in the archive, or the archive cannot be read)',
};
