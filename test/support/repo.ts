import { PasswordKeySlot, SCRYPT_MIN_LOG_N } from '../../lib/keys/password';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { makeTempDir } from './temp';

export const TEST_PASSWORD = 'correct horse battery staple';

/**
 * Environment for a zapas process in a test: the cheapest scrypt cost for new key slots, which only an
 * explicit opt-in (ZAPAS_TEST_ALLOW_WEAK_KDF=1) lets below the floor.
 */
export const WEAK_KDF_ENV = {
  ZAPAS_KDF_LOG_N: String(SCRYPT_MIN_LOG_N),
  ZAPAS_TEST_ALLOW_WEAK_KDF: '1',
} as const;

/** A password codec with the cheapest scrypt cost, for speed. */
export function testKey(password = TEST_PASSWORD): PasswordKeySlot {
  return new PasswordKeySlot(password, SCRYPT_MIN_LOG_N);
}

/** A new repository in a temporary folder (restic's TestRepository habit). */
export async function makeTempRepo(): Promise<{ repo: Repository; dir: string; storage: FsStorage }> {
  const dir = await makeTempDir('zapas-repo-');
  const storage = new FsStorage(dir);
  const repo = await Repository.init(storage, testKey());
  return { repo, dir, storage };
}
