// Errors of the files source that the CLI maps to exit codes, apart from the modules that raise them (so
// mapping one does not load picomatch and the walker).

/** Bad exclude input (unreadable exclude file, empty pattern). */
export class ExcludeError extends Error {
  override readonly name = 'ExcludeError';
}
