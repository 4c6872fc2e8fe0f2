import { resolve } from 'node:path';
import { isSea } from 'node:sea';

/** True when this is the self-contained executable (Node's single executable application), not a script. */
export function isSingleExecutable(): boolean {
  return isSea();
}

/**
 * The command line that runs this program again (the async archiver, the prefetcher, a restored server's
 * restore_command): the executable alone, or the Node that runs this script and the script.
 */
export function selfCommand(): string[] {
  return isSea() ? [process.execPath] : [process.execPath, resolve(process.argv[1] ?? 'zapas')];
}
