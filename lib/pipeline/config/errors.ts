// The configuration's error, apart from the loader: the CLI maps it to an exit code without loading YAML,
// zod and the cron parser.

/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** Dotted path of the field (`sources.payments.schedules.0.cron`), '' for the file itself. */
  path: string;
  line?: number;
  column?: number;
  message: string;
}

/** A configuration that cannot be used: every issue found, each naming its field and line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      `${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${issues
        .map(
          (i) =>
            `  ${file}${i.line ? `:${i.line}:${i.column}` : ''}: ${i.path ? `${i.path}: ` : ''}${i.message}`,
        )
        .join('\n')}`,
    );
  }
}
