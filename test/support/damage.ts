import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every object file under `<repo>/<folder>`, as paths. */
export async function objectsIn(repo: string, folder: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) await visit(join(dir, e.name));
      else if (!e.name.startsWith('.tmp-')) out.push(join(dir, e.name));
    }
  };
  await visit(join(repo, folder));
  return out.sort();
}

/** Flips one bit at `at` (negative: from the end). */
export async function flipBit(file: string, at: number): Promise<void> {
  const bytes = await readFile(file);
  const pos = at < 0 ? bytes.length + at : at;
  // An out-of-range write to a Buffer is silently dropped: a damage test would damage nothing.
  if (pos < 0 || pos >= bytes.length)
    throw new RangeError(`${file} has ${bytes.length} bytes: cannot flip byte ${at}`);
  bytes[pos]! ^= 0x10;
  await writeFile(file, bytes);
}

/** Cuts a file to `keep` bytes. */
export async function cut(file: string, keep: number): Promise<void> {
  await truncate(file, keep);
}

/** The object name (`data/ab/abcd…`) of a file inside a repository folder. */
export function objectName(repo: string, file: string): string {
  return file.slice(repo.length + 1);
}
