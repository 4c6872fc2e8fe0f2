import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SourceWarning } from '../../lib/sources/files/archiver';
import { backupFiles } from '../../lib/sources/files/backup';
import { Restorer } from '../../lib/sources/files/restorer';
import { makeTempRepo } from '../support/repo';
import { useTempDir } from '../support/temp';

/** Files that vanish or change while they are read: named, counted, and never a silent mix. */
describe('source files that change under the backup', () => {
  const tmp = useTempDir();

  it('a file that vanishes before it is read is named and left out; the rest is saved', async () => {
    const { repo } = await makeTempRepo();
    const src = join(tmp(), 'vanish');
    await mkdir(src);
    await writeFile(join(src, 'stays.txt'), 'stays');
    await writeFile(join(src, 'goes.txt'), 'goes');
    const warnings: SourceWarning[] = [];
    const result = await backupFiles(repo, [src], {
      onWarning: (w) => warnings.push(w),
      beforeRead: async (path) => {
        if (path.endsWith('goes.txt')) await rm(path);
      },
    });
    expect(warnings).toEqual([{ path: join(src, 'goes.txt'), message: 'vanished before it could be read' }]);
    expect(result.snapshot.summary.errors).toBe(1);
    expect(result.snapshot.summary.filesNew).toBe(1);
    const target = join(tmp(), 'vanish-restored');
    await new Restorer(repo).restore(result.snapshot.tree, target);
    expect(await readFile(join(target, src, 'stays.txt'), 'utf8')).toBe('stays');
    await expect(readFile(join(target, src, 'goes.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('a file that changes while it is read is read again; if it keeps changing it is named', async () => {
    const { repo } = await makeTempRepo();
    const src = join(tmp(), 'change');
    await mkdir(src);
    await writeFile(join(src, 'log.txt'), 'line\n');
    const warnings: SourceWarning[] = [];
    const result = await backupFiles(repo, [src], {
      onWarning: (w) => warnings.push(w),
      beforeRead: (path) => appendFile(path, 'another line\n'),
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.path).toBe(join(src, 'log.txt'));
    expect(warnings[0]!.message).toMatch(/changed while it was read/);
    expect(result.snapshot.summary.errors).toBe(1);
  });

  it('a file that changed once is read again and stored consistently, without a warning', async () => {
    const { repo } = await makeTempRepo();
    const src = join(tmp(), 'change-once');
    await mkdir(src);
    await writeFile(join(src, 'save.json'), '{"v":1}');
    let calls = 0;
    const warnings: SourceWarning[] = [];
    const result = await backupFiles(repo, [src], {
      onWarning: (w) => warnings.push(w),
      beforeRead: async (path) => {
        if (calls++ === 0) await writeFile(path, '{"v":2, "longer": true}');
      },
    });
    expect(warnings).toEqual([]);
    const target = join(tmp(), 'change-once-restored');
    await new Restorer(repo).restore(result.snapshot.tree, target);
    expect(await readFile(join(target, src, 'save.json'), 'utf8')).toBe('{"v":2, "longer": true}');
  });
});
