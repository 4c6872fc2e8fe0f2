import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';

/**
 * A comparable description of a folder: path → type, mode, size, mtime (ms), content hash, link
 * target. Works on names that are not valid UTF-8 (paths are handled as bytes).
 */
export async function describeTree(
  root: string,
  opts: { times?: boolean } = {},
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (dir: Buffer, rel: string) => {
    const names = ((await readdir(dir, { encoding: 'buffer' })) as Buffer[]).sort(Buffer.compare);
    for (const name of names) {
      const full = Buffer.concat([dir, Buffer.from('/'), name]);
      const r = `${rel}/${name.toString('utf8')}`;
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
  await visit(Buffer.from(root), '');
  return out;
}
