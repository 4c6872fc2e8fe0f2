import { mkdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonLines, lastJson, runCli } from '../support/cli';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

/** The `zapas` verbs end to end on a local repository, through the same main() the command runs. */
describe('zapas CLI on a local repository', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  const cli = (...args: string[]) => runCli(['--repo', repo, ...args]);

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    await mkdir(join(src, 'saves', 'eu'), { recursive: true });
    await mkdir(join(src, 'empty'), { recursive: true });
    await mkdir(join(src, 'cache'), { recursive: true });
    await writeFile(join(src, 'saves', 'eu', 'player-1.json'), JSON.stringify({ level: 3 }));
    await writeFile(join(src, 'saves', 'player-2.json'), 'x'.repeat(100_000));
    await writeFile(join(src, 'cache', 'junk.tmp'), 'junk');
    await writeFile(join(src, 'debug.log'), 'log');
    await symlink('saves/player-2.json', join(src, 'latest-save'));
  });

  it('init creates a repository and refuses to create one twice', async () => {
    const first = await cli('init', '--json');
    expect(first.code).toBe(0);
    expect(lastJson(first.stdout).location).toBe(repo);
    const second = await cli('init');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already exists/);
  });

  let firstId = '';
  it('backup --json ends with the summary object', async () => {
    const r = await cli(
      'backup',
      src,
      '--exclude',
      '*.log',
      '--exclude',
      'cache',
      '--tag',
      'nightly',
      '--source',
      'saves',
      '--json',
    );
    expect(r.code).toBe(0);
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({
      messageType: 'summary',
      filesNew: 2,
      filesChanged: 0,
      filesUnmodified: 0,
      errors: 0,
    });
    for (const k of ['snapshotId', 'bytesProcessed', 'bytesAdded', 'durationMs']) expect(s[k]).toBeDefined();
    expect(s.bytesAdded as number).toBeGreaterThan(0);
    expect(s.bytesAdded as number).toBeLessThan(100_000); // 100 KB of 'x' compresses
    firstId = s.snapshotId as string;
  });

  it('a second backup reuses the parent: nothing read, nothing added', async () => {
    const r = await cli(
      'backup',
      src,
      '--exclude',
      '*.log',
      '--exclude',
      'cache',
      '--source',
      'saves',
      '--json',
    );
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 2, parent: firstId });
    expect(s.bytesAdded).toBeLessThan(2000); // a tree-free run writes only the index of nothing
  });

  it('--force re-reads every file (still deduplicated) and counts the unchanged ones as unmodified', async () => {
    const r = await cli(
      'backup',
      src,
      '--exclude',
      '*.log',
      '--exclude',
      'cache',
      '--source',
      'saves',
      '--force',
      '--json',
    );
    expect(lastJson(r.stdout)).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 2 });
    expect(lastJson(r.stdout).bytesAdded as number).toBeLessThan(2000);
  });

  it('a changed file is read again and counted as changed', async () => {
    await writeFile(join(src, 'saves', 'eu', 'player-1.json'), JSON.stringify({ level: 4 }));
    await utimes(join(src, 'saves', 'eu', 'player-1.json'), new Date(), new Date(Date.now() + 5000));
    const r = await cli(
      'backup',
      src,
      '--exclude',
      '*.log',
      '--exclude',
      'cache',
      '--source',
      'saves',
      '--tag',
      'after-level-up',
      '--json',
    );
    expect(lastJson(r.stdout)).toMatchObject({ filesChanged: 1, filesUnmodified: 1 });
  });

  it('snapshots lists them, filtered by source and tag', async () => {
    const all = jsonLines((await cli('snapshots', '--json')).stdout);
    expect(all).toHaveLength(4);
    expect(all[0]).toMatchObject({ id: firstId, source: 'saves', tags: ['nightly'] });
    expect(jsonLines((await cli('snapshots', '--tag', 'nightly', '--json')).stdout)).toHaveLength(1);
    expect(jsonLines((await cli('snapshots', '--source', 'other', '--json')).stdout)).toHaveLength(0);
    const text = await cli('snapshots');
    expect(text.stdout).toContain(firstId.slice(0, 8));
    expect(text.stdout).toContain('4 snapshot(s)');
  });

  it('ls lists the files of a snapshot, excluded ones absent', async () => {
    const r = await cli('ls', firstId.slice(0, 8));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${src}/saves/eu/player-1.json`);
    expect(r.stdout).toContain(`${src}/empty`);
    expect(r.stdout).not.toContain('debug.log');
    expect(r.stdout).not.toContain('junk.tmp');
    const json = jsonLines((await cli('ls', 'latest', `${src}/saves`, '--json')).stdout);
    expect(json.filter((n) => n.messageType === 'node').map((n) => n.path)).toEqual([
      `${src}/saves`,
      `${src}/saves/eu`,
      `${src}/saves/eu/player-1.json`,
      `${src}/saves/player-2.json`,
    ]);
  });

  it('diff shows what changed between two snapshots', async () => {
    const r = await cli('diff', firstId, 'latest');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`M  ${src}/saves/eu/player-1.json`));
    expect(r.stdout).toContain('0 added, 0 removed, 0 type changed, 1 modified');
  });

  it('restore rebuilds the tree exactly, and --verify re-reads it', async () => {
    const target = join(tmp(), 'restore-1');
    const r = await cli('restore', 'latest', '--target', target, '--verify');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/verified/);
    const expected = await describeTree(src);
    delete expected['/debug.log'];
    delete expected['/cache/junk.tmp'];
    delete expected['/cache'];
    expect(await describeTree(join(target, src))).toEqual(expected);
  });

  it('restore --include / --exclude restore a selection', async () => {
    const target = join(tmp(), 'restore-2');
    expect((await cli('restore', 'latest', '--target', target, '--include', 'player-1.json')).code).toBe(0);
    expect(Object.keys(await describeTree(join(target, src)))).toEqual([
      '/saves',
      '/saves/eu',
      '/saves/eu/player-1.json',
    ]);
    const target3 = join(tmp(), 'restore-3');
    expect((await cli('restore', 'latest', '--target', target3, '--exclude', 'saves')).code).toBe(0);
    expect(Object.keys(await describeTree(join(target3, src))).sort()).toEqual(['/empty', '/latest-save']);
  });

  it('restore refuses a target folder that is not empty, and leaves it untouched', async () => {
    const target = join(tmp(), 'busy');
    await mkdir(target);
    await writeFile(join(target, 'precious.txt'), 'keep me');
    const r = await cli('restore', 'latest', '--target', target);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`target folder ${target} is not empty`);
    expect(await readFile(join(target, 'precious.txt'), 'utf8')).toBe('keep me');
  });

  it('check passes a healthy repository, with and without reading data', async () => {
    expect((await cli('check')).code).toBe(0);
    const r = await cli('check', '--read-data', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, errors: [] });
    expect((await cli('check', '--read-data-subset', '50%')).code).toBe(0);
    expect((await cli('check', '--read-data-subset', '0')).code).toBe(2);
  });

  it('stats reports sizes and ratios', async () => {
    const r = await cli('stats', '--json');
    const s = lastJson(r.stdout);
    expect(s.snapshots).toBe(4);
    expect(s.dedupRatio as number).toBeGreaterThan(3);
    expect(s.compressionRatio as number).toBeGreaterThan(1);
  });

  it('forget --keep-last removes older snapshots and --prune frees their data', async () => {
    const dry = await cli('forget', '--keep-last', '1', '--dry-run', '--json');
    expect(jsonLines(dry.stdout).filter((l) => l.messageType === 'remove')).toHaveLength(3);
    expect(jsonLines((await cli('snapshots', '--json')).stdout)).toHaveLength(4);
    const r = await cli('forget', '--keep-last', '1', '--prune', '--json');
    expect(r.code).toBe(0);
    const prune = jsonLines(r.stdout).find((l) => l.messageType === 'prune') as {
      deleted: { packs: number };
    };
    expect(prune.deleted.packs).toBeGreaterThan(0);
    expect(jsonLines((await cli('snapshots', '--json')).stdout)).toHaveLength(1);
    expect((await cli('check', '--read-data')).code).toBe(0);
    const target = join(tmp(), 'restore-after-prune');
    expect((await cli('restore', 'latest', '--target', target, '--verify')).code).toBe(0);
  });

  it('forget by id removes exactly that snapshot', async () => {
    await cli('backup', src, '--source', 'other', '--json');
    const before = jsonLines((await cli('snapshots', '--json')).stdout);
    const victim = before.find((s) => s.source === 'other')!.id as string;
    expect((await cli('forget', victim.slice(0, 10))).code).toBe(0);
    const after = jsonLines((await cli('snapshots', '--json')).stdout);
    expect(after.map((s) => s.id)).toEqual(before.filter((s) => s.id !== victim).map((s) => s.id));
  });

  it('forget refuses to run without a rule or ids (never removes everything by accident)', async () => {
    const r = await cli('forget');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nothing to forget/);
  });

  it('prune --dry-run changes nothing', async () => {
    const before = await describeTree(repo, { times: false });
    expect((await cli('prune', '--dry-run')).code).toBe(0);
    expect(await describeTree(repo, { times: false })).toEqual(before);
  });

  it('draws progress on request (files, bytes, rate, ETA from the parent), and stays quiet otherwise', async () => {
    const quiet = await cli('backup', src, '--source', 'progress');
    expect(quiet.stderr).toBe('');
    const shown = await cli('--progress', 'backup', src, '--source', 'progress');
    expect(shown.stderr).toMatch(/backup: \d+ files, .*B \/ .*B, .*\/s/);
    const restored = await cli(
      '--progress',
      'restore',
      'latest',
      '--target',
      join(tmp(), 'restore-progress'),
    );
    expect(restored.stderr).toMatch(/restore: \d+ files/);
  });

  it('help of every verb ends with its exit status list', async () => {
    for (const verb of [
      'init',
      'backup',
      'snapshots',
      'ls',
      'diff',
      'restore',
      'check',
      'forget',
      'prune',
      'stats',
      'copy',
      'unlock',
    ]) {
      const r = await runCli([verb, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/EXIT STATUS\n {2}0 {2}success/);
    }
  });

  it('removes the source after the tests', async () => {
    await rm(src, { recursive: true, force: true });
    expect(true).toBe(true);
  });
});
