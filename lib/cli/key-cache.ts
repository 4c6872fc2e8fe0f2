import { homedir } from 'node:os';
import { join } from 'node:path';
import { CachedPasswordKeySlot } from '../keys/key-cache';
import { KeyCacheFile, KeyCacheUnsafeError } from '../keys/key-cache-file';
import type { PasswordKeySlot } from '../keys/password';
import { WrongKeyError } from '../repo/errors';
import type { OnDamagedSlot } from '../repo/keyslots';
import { Repository } from '../repo/repository';
import type { Storage } from '../storage/storage';
import { UsageError } from './errors';
import type { Io } from './io';

/**
 * The key cache's folder: ZAPAS_KEY_CACHE_DIR, else $XDG_CACHE_HOME/zapas, else ~/.cache/zapas; none when
 * ZAPAS_KEY_CACHE=off.
 */
export function keyCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const setting = env.ZAPAS_KEY_CACHE;
  if (setting === 'off') return undefined;
  if (setting !== undefined && setting !== 'on')
    throw new UsageError(`ZAPAS_KEY_CACHE must be "on" or "off", not "${setting}"`);
  if (env.ZAPAS_KEY_CACHE_DIR) return env.ZAPAS_KEY_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'zapas');
}

/**
 * Opens a repository with the password's cached slot key when there is one (see lib/keys/key-cache.ts),
 * else with the full derivation, whose key it then caches. A cache that is not private to this user is
 * not used (one warning); one that cannot be written costs the next call a derivation, nothing more.
 */
export async function openWithKeyCache(
  io: Io,
  storage: Storage,
  password: string,
  codec: PasswordKeySlot,
  dir: string,
  onDamagedSlot?: OnDamagedSlot,
): Promise<Repository> {
  const file = new KeyCacheFile(dir, storage.location);
  const warn = (err: unknown) =>
    io.stderr.write(`zapas: warning: key cache not used: ${(err as Error).message}\n`);
  let entry: Awaited<ReturnType<KeyCacheFile['read']>>;
  try {
    entry = await file.read();
  } catch (err) {
    if (!(err instanceof KeyCacheUnsafeError)) throw err;
    warn(err);
    return Repository.open(storage, codec, { onDamagedSlot });
  }
  const cached = new CachedPasswordKeySlot(codec, password, entry);
  let repo: Repository;
  try {
    repo = await Repository.open(storage, cached, { onDamagedSlot });
  } catch (err) {
    // The password opens nothing now (changed, or its slot removed): the entry is of no more use.
    if (err instanceof WrongKeyError && entry) await file.remove().catch(warn);
    throw err;
  }
  const fresh = await cached.entryToStore(repo.config.id);
  if (fresh) await file.write(fresh).catch(warn);
  return repo;
}
