import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkRepository } from '../../lib/repo/check';
import { parsePack } from '../../lib/repo/pack';
import { repositoryStats } from '../../lib/repo/stats';
import { backupFiles } from '../../lib/sources/files/backup';
import { objectsIn } from '../support/damage';
import { makeTempRepo } from '../support/repo';
import { useTempDir } from '../support/temp';

/** Separate pack streams per data class: retention, residency and tiers apply to whole packs. */
describe('data classes', () => {
  const tmp = useTempDir();

  it('never shares a pack, nor deduplicates, across data classes', async () => {
    const { repo, dir } = await makeTempRepo();
    const src = join(tmp(), 'src');
    await mkdir(src);
    await writeFile(join(src, 'save.bin'), randomBytes(100_000));
    const personal = await backupFiles(repo, [src], { source: 'a', dataClass: 'personal' });
    const telemetry = await backupFiles(repo, [src], { source: 'b', dataClass: 'telemetry' });
    expect(personal.snapshot.dataClass).toBe('personal');
    // Same bytes, other class: stored again, in packs of its own class.
    expect(telemetry.snapshot.summary.blobsAdded).toBe(personal.snapshot.summary.blobsAdded);
    const again = await backupFiles(repo, [src], { source: 'c', dataClass: 'telemetry', force: true });
    // Within its class the 100 kB of random data deduplicates (only small trees may be new: the real
    // folders above the source, such as /tmp, change their times while other tests run).
    expect(again.snapshot.summary.bytesAdded).toBeLessThan(20_000);
    const stats = await repositoryStats(repo);
    expect(Object.keys(stats.byDataClass).sort()).toEqual(['personal', 'telemetry']);
    for (const file of await objectsIn(dir, 'data')) {
      const header = parsePack(repo.keyring, await readFile(file), file);
      expect(['personal', 'telemetry']).toContain(header.dataClass);
    }
    expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
  });
});
