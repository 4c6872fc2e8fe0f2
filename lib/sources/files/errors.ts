// Errors of the files source that the CLI maps to exit codes, apart from the modules that raise them (so
// mapping one does not load picomatch and the walker).

/** Bad exclude input (unreadable exclude file, empty pattern). */
export class ExcludeError extends Error {
  override readonly name = 'ExcludeError';
}

/**
 * A path given to back up that is not there (or cannot even be looked at): the backup is refused before
 * anything is written, as restic refuses it. A file that vanishes once the backup runs is a warning and
 * exit 3 instead: the snapshot of the rest is still worth keeping.
 */
export class SourcePathError extends Error {
  override readonly name = 'SourcePathError';
  constructor(
    /** Each refused path with what is wrong with it. */
    readonly problems: readonly { path: string; message: string }[],
  ) {
    super(
      problems.length === 1
        ? `refusing to back up: ${problems[0]!.path} ${problems[0]!.message}`
        : `refusing to back up: ${problems.map((p) => `${p.path} ${p.message}`).join('; ')}`,
    );
  }
}
