import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** A comparable description of a folder: path → type, mode, size, mtime (ms), content hash, link target. */
export async function describeTree(
  root: string,
  opts: { times?: boolean } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (dir: string, rel: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const full = join(dir, name);
      const r = `${rel}/${name}`;
      const s = await lstat(full);
      const time = opts.times === false ? '' : ` mtime=${Math.floor(s.mtimeMs)}`;
      if (s.isDirectory()) {
        out[r] = `dir mode=${(s.mode & 0o7777).toString(8)}${time}`;
        await visit(full, r);
      } else if (s.isSymbolicLink()) out[r] = `symlink -> ${await readlink(full)}`;
      else {
        const hash = createHash('sha256')
          .update(await readFile(full))
          .digest('hex')
          .slice(0, 16);
        out[r] = `file mode=${(s.mode & 0o7777).toString(8)} size=${s.size}${time} sha=${hash}`;
      }
    }
  };
  await visit(root, '');
  return out;
}
