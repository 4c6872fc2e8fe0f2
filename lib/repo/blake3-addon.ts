import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRawAsset, isSea } from 'node:sea';
import type * as BlakeHash from '@napi-rs/blake-hash';

/** The name under which the self-contained executable carries the addon's linux-x64 binary (scripts/build.mjs). */
export const BLAKE3_ADDON_ASSET = 'blake-hash.node';
/** Owner-only, and readable and mappable by its owner: what dlopen needs of the file. */
const ADDON_FILE_MODE = 0o700;

type Blake3HasherClass = typeof BlakeHash.Blake3Hasher;
let hasherClass: Blake3HasherClass | undefined;

/**
 * The BLAKE3 hasher of the native addon (@napi-rs/blake-hash), loaded on first use: commands that never
 * hash blobs (wal-push, wal-fetch) never load it. A script or a function bundle requires it from its
 * node_modules; the self-contained executable carries its binary and loads it from a private file.
 */
export function blake3Hasher(): Blake3HasherClass {
  hasherClass ??= (isSea() ? loadCarriedAddon() : (require('@napi-rs/blake-hash') as typeof BlakeHash))
    .Blake3Hasher;
  return hasherClass;
}

/**
 * Loads the addon the executable carries. dlopen needs a file: it is written into a folder that mkdtemp
 * makes new (mode 0700, an unpredictable name; in /tmp the sticky bit stops others from renaming it),
 * created exclusively (O_EXCL: nothing planted there is followed or reused), loaded, and unlinked at
 * once (the mapping stays; nothing is left behind). No other user can replace the file between writing
 * and loading: only this user (and root), who can change the executable itself anyway, may write there.
 * A folder on a file system mounted noexec refuses the mapping: the next candidate is tried.
 */
function loadCarriedAddon(): typeof BlakeHash {
  const bytes = new Uint8Array(getRawAsset(BLAKE3_ADDON_ASSET));
  const tried: string[] = [];
  for (const base of addonFolders()) {
    let dir: string;
    try {
      dir = mkdtempSync(join(base, 'zapas-addon-'));
    } catch (err) {
      tried.push(`${base} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      continue;
    }
    try {
      const file = join(dir, BLAKE3_ADDON_ASSET);
      const fd = openSync(file, 'wx', ADDON_FILE_MODE);
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      } finally {
        closeSync(fd);
      }
      const module = { exports: {} as typeof BlakeHash };
      process.dlopen(module, file);
      return module.exports;
    } catch (err) {
      tried.push(`${base} (${(err as Error).message})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new Error(
    `cannot load the BLAKE3 addon that zapas carries: no private folder would hold it (${tried.join('; ')}); set TMPDIR to a folder on a file system that allows executables`,
  );
}

/** Where the addon may be unpacked: TMPDIR (or /tmp), the user's runtime folder, the user's cache. */
function addonFolders(): string[] {
  const runtime = process.env.XDG_RUNTIME_DIR;
  return [tmpdir(), ...(runtime ? [runtime] : []), join(homedir(), '.cache')];
}
