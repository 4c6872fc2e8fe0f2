/** One option every verb accepts: commander's flags (`<value>` when it takes one) and its help text. */
export interface GlobalOption {
  readonly flags: string;
  readonly description: string;
}

/** The global options, in the order `--help` lists them; main() gives them to commander. */
export const GLOBAL_OPTIONS: readonly GlobalOption[] = [
  {
    flags: '-r, --repo <url>',
    description: 'repository: a path, file:///path or s3://bucket/prefix (env ZAPAS_REPOSITORY)',
  },
  {
    flags: '--password-file <file>',
    description: 'read the repository password from a file (env ZAPAS_PASSWORD_FILE, ZAPAS_PASSWORD)',
  },
  {
    flags: '--s3-endpoint <url>',
    description: 'S3-compatible endpoint, e.g. http://127.0.0.1:9000 (env ZAPAS_S3_ENDPOINT)',
  },
  { flags: '-q, --quiet', description: 'print only errors and requested output' },
  { flags: '--progress', description: 'draw progress even when stderr is not a terminal' },
];

/**
 * The words of a command line after its global options (`-r X pg wal-push …` gives `pg wal-push …`), or
 * undefined when something there is not a global option (then only the full parser can say what it is).
 */
export function afterGlobalOptions(argv: readonly string[]): readonly string[] | undefined {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-')) {
    const [word, inline] = splitInline(argv[i]!);
    const option = GLOBAL_OPTIONS.find((o) => flagsOf(o).includes(word));
    if (!option) return undefined;
    i += option.flags.includes('<') && inline === undefined ? 2 : 1;
  }
  return i <= argv.length ? argv.slice(i) : undefined;
}

function splitInline(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return arg.startsWith('--') && eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
}

function flagsOf(option: GlobalOption): string[] {
  return option.flags
    .split(/[ ,]+/)
    .filter((w) => w.startsWith('-'))
    .map((w) => w.trim());
}
