import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkRepository } from '../../lib/repo/check';
import { INDEX_PREFIX } from '../../lib/repo/index-file';
import { Repository } from '../../lib/repo/repository';
import { backupFiles } from '../../lib/sources/files/backup';
import type { ObjectInfo, Storage } from '../../lib/storage/storage';
import { makeTempRepo, testKey } from '../support/repo';
import { useTempDir } from '../support/temp';

/**
 * check shares the repository with backups (serve runs a verify next to other sources' backups): a
 * snapshot saved while check runs is either checked whole or not at all, never read against an index
 * loaded before that backup wrote its own.
 */
describe('check next to a running backup', () => {
  const tmp = useTempDir();

  it('a backup finishing after check has read the index is not reported as missing trees', async () => {
    const { repo: writer, storage } = await makeTempRepo();
    const src = join(tmp(), 'src');
    await mkdir(src);
    await writeFile(join(src, 'first.txt'), 'first');
    await backupFiles(writer, [src], { source: 'a' });

    // The checker's storage: once check has listed the index objects, another source's backup lands
    // (its index object, then its snapshot).
    let landed = false;
    const watched: Storage = Object.create(storage, {
      list: {
        value: async function* (prefix: string): AsyncIterable<ObjectInfo> {
          yield* storage.list(prefix);
          if (prefix === INDEX_PREFIX && !landed) {
            landed = true;
            await writeFile(join(src, 'second.txt'), 'second, written during the check');
            await backupFiles(writer, [src], { source: 'b' });
          }
        },
      },
    });
    const checker = await Repository.open(watched, testKey());
    const report = await checkRepository(checker, {});
    expect(landed).toBe(true);
    expect(report.errors).toEqual([]);
    // The next check sees both snapshots, whole.
    const next = await checkRepository(await Repository.open(storage, testKey()), {});
    expect(next.errors).toEqual([]);
    expect(next.snapshots).toBe(2);
  });
});
