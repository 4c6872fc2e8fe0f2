import { chmod, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonLines, lastJson, runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** `zapas diff` lists the paths that changed, and only those (restic's habit). */
describe('zapas diff', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  const cli = (...args: string[]) => runCli(['--repo', repo, ...args]);
  const backup = async () =>
    lastJson((await cli('backup', src, '--source', 'diff', '--json')).stdout).snapshotId as string;
  const changes = async (a: string, b: string) =>
    jsonLines((await cli('diff', a, b, '--json')).stdout).map((c) => `${c.change} ${c.path}`);

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    for (const d of ['added-to', 'removed-from', 'modified-in', 'untouched', 'chmodded', 'becomes-file'])
      await mkdir(join(src, d), { recursive: true });
    await writeFile(join(src, 'removed-from', 'gone.txt'), 'gone');
    await writeFile(join(src, 'modified-in', 'file.txt'), 'before');
    await writeFile(join(src, 'untouched', 'file.txt'), 'same');
    await writeFile(join(src, 'touched.txt'), 'same');
    expect((await cli('init')).code).toBe(0);
  });

  it('lists added, removed, modified and type-changed paths, not the folders that hold them', async () => {
    const a = await backup();
    await writeFile(join(src, 'added-to', 'new.txt'), 'new');
    await rm(join(src, 'removed-from', 'gone.txt'));
    await writeFile(join(src, 'modified-in', 'file.txt'), 'after!');
    await rm(join(src, 'becomes-file'), { recursive: true });
    await writeFile(join(src, 'becomes-file'), 'now a file');
    const b = await backup();
    expect(await changes(a, b)).toEqual([
      `+ ${src}/added-to/new.txt`,
      `T ${src}/becomes-file`,
      `M ${src}/modified-in/file.txt`,
      `- ${src}/removed-from/gone.txt`,
    ]);
    const text = await cli('diff', a, b);
    expect(text.stdout).toContain('1 added, 1 removed, 1 type changed, 1 modified, 0 metadata only');
  });

  it('a folder whose own mode changed, and a file whose mtime changed, are listed as metadata (U)', async () => {
    const a = await backup();
    await chmod(join(src, 'chmodded'), 0o700);
    await utimes(join(src, 'touched.txt'), new Date(), new Date(Date.now() - 86_400_000));
    const b = await backup();
    expect(await changes(a, b)).toEqual([`U ${src}/chmodded`, `U ${src}/touched.txt`]);
  });

  it('two snapshots of an unchanged tree differ in nothing', async () => {
    const a = await backup();
    const b = await backup();
    expect(await changes(a, b)).toEqual([]);
  });
});
