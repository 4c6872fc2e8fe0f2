import { readFile } from 'node:fs/promises';
import picomatch from 'picomatch';
import { ExcludeError } from './errors';

/**
 * Exclude patterns as restic reads them: a pattern starting with `/` is anchored at the root and
 * matched against the whole absolute path; any other pattern matches the path's trailing components
 * anywhere (`*.log`, `cache/tmp`). `**` crosses directories. An excluded directory is not descended.
 */
export class ExcludeMatcher {
  private readonly tests: ((path: string) => boolean)[];

  constructor(readonly patterns: readonly string[]) {
    this.tests = patterns.map((pattern) => {
      if (pattern.trim() === '') throw new ExcludeError('empty exclude pattern');
      const anchored = pattern.startsWith('/');
      const glob = anchored ? pattern.slice(1) : `**/${pattern}`;
      const match = picomatch(glob.replace(/\/+$/, ''), { dot: true });
      return (path: string) => match(path.replace(/^\/+/, ''));
    });
  }

  /** True when the absolute `path` is excluded. */
  excludes(path: string): boolean {
    for (const test of this.tests) if (test(path)) return true;
    return false;
  }
}

/** Reads patterns from exclude files: one per line, `#` comments and blank lines ignored. */
export async function readExcludeFiles(files: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      throw new ExcludeError(
        `cannot read exclude file ${file}: ${(cause as NodeJS.ErrnoException).code ?? cause}`,
        { cause },
      );
    }
    for (const line of text.split(/\r?\n/)) {
      const trimmed = line.trim();
      if (trimmed !== '' && !trimmed.startsWith('#')) out.push(trimmed);
    }
  }
  return out;
}
