import { randomBytes } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LARGE_FILE_BYTES } from '../../lib/sources/files/archiver';
import { lastJson, runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/**
 * `backup --force` reads every file again; the summary still says what changed: a file whose content and
 * metadata are the parent's is unmodified, on the worker path (small files scanned in jobs, large ones
 * read apart) and on the single-thread path alike.
 */
describe.each([
  ['worker threads', {}],
  ['one thread', { ZAPAS_WORKERS: '0' }],
])('backup --force counts honestly (%s)', (_name, env: NodeJS.ProcessEnv) => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  const backup = async (...extra: string[]) => {
    const r = await runCli(['--repo', repo, 'backup', src, '--source', 'force', '--json', ...extra], env);
    expect(r.code).toBe(0);
    return lastJson(r.stdout);
  };

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'small.txt'), 'small');
    await writeFile(join(src, 'sub', 'other.txt'), 'other');
    await writeFile(join(src, 'large.bin'), randomBytes(LARGE_FILE_BYTES + 100_000));
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
  });

  it('a first backup counts every file new; --force on an unchanged tree counts them unmodified', async () => {
    expect(await backup()).toMatchObject({ filesNew: 3, filesChanged: 0, filesUnmodified: 0 });
    expect(await backup('--force')).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 3 });
  });

  it('--force after a change counts only the changed files as changed', async () => {
    const large = await open(join(src, 'large.bin'), 'r+');
    await large.write(Buffer.from('changed'), 0, 7, 1000);
    await large.close();
    await writeFile(join(src, 'small.txt'), 'SMALL');
    expect(await backup('--force')).toMatchObject({ filesNew: 0, filesChanged: 2, filesUnmodified: 1 });
  });
});
