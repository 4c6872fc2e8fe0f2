import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { jsonLines, lastJson, runCli } from '../support/cli';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

/**
 * In a repository many sources share, `latest` is the newest snapshot of any of them: the filters
 * (--source, --tag, --host, --path) scope it for restore, ls, diff and pg restore, and snapshots
 * --latest N shows the newest of each source.
 */
describe('latest in a shared repository', () => {
  const tmp = useTempDir();
  let repo = '';
  let saves = '';
  let logs = '';
  const cli = (...args: string[]) => runCli(['--repo', repo, ...args]);
  const backup = async (path: string, ...args: string[]) => {
    const r = await cli('backup', path, '--json', ...args);
    expect(r.code).toBe(0);
    return lastJson(r.stdout).snapshotId as string;
  };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    saves = join(tmp(), 'saves');
    logs = join(tmp(), 'logs');
    await mkdir(saves);
    await mkdir(logs);
    await writeFile(join(saves, 'player.json'), 'level 1');
    await writeFile(join(logs, 'app.log'), 'line 1');
    expect((await cli('init')).code).toBe(0);
    ids.saves1 = await backup(saves, '--source', 'saves', '--tag', 'nightly');
    await writeFile(join(saves, 'player.json'), 'level 2');
    ids.saves2 = await backup(saves, '--source', 'saves', '--tag', 'hourly');
    ids.logs = await backup(logs, '--source', 'logs', '--tag', 'nightly'); // the newest of all
  });

  it('restore latest --source restores that source, not the newest snapshot of the repository', async () => {
    const target = join(tmp(), 'restored');
    const r = await cli('restore', 'latest', '--source', 'saves', '--target', target, '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).snapshotId).toBe(ids.saves2);
    expect(Object.keys(await describeTree(target))).toContain(`${saves}/player.json`);
  });

  it('ls latest takes --tag (a,b: all of them), --host and --path', async () => {
    const idOf = async (...filters: string[]) => {
      const r = await cli('ls', 'latest', '--json', ...filters);
      expect(r.code).toBe(0);
      return jsonLines(r.stdout)[0]!.id;
    };
    expect(await idOf()).toBe(ids.logs);
    expect(await idOf('--tag', 'hourly')).toBe(ids.saves2);
    expect(await idOf('--tag', 'nightly')).toBe(ids.logs);
    expect(await idOf('--tag', 'nightly', '--source', 'saves')).toBe(ids.saves1);
    expect(await idOf('--path', saves)).toBe(ids.saves2);
    expect(await idOf('--host', hostname(), '--path', saves, '--tag', 'nightly')).toBe(ids.saves1);
    expect(await idOf('--tag', 'x', '--tag', 'hourly')).toBe(ids.saves2); // repeated: any of them
  });

  it('diff scopes latest by the same filters', async () => {
    const r = await cli('diff', ids.saves1!, 'latest', '--source', 'saves');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`M  ${saves}/player.json`);
    expect(r.stdout).not.toContain(logs);
  });

  it('a filter that matches nothing is an error naming the filters; an id outside them is refused', async () => {
    const none = await cli('ls', 'latest', '--source', 'saves', '--tag', 'weekly');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no snapshot matching source "saves", tag "weekly"');
    const both = await cli('ls', 'latest', '--tag', 'nightly,hourly'); // a,b: all of them
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('no snapshot matching tag "nightly,hourly"');
    const outside = await cli('restore', ids.logs!, '--source', 'saves', '--target', join(tmp(), 'no'));
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain(`snapshot ${ids.logs!.slice(0, 8)} is not one matching source "saves"`);
  });

  it('snapshots --latest N lists the N newest of each source', async () => {
    const one = jsonLines((await cli('snapshots', '--latest', '1', '--json')).stdout).map((s) => s.id);
    expect(one).toEqual([ids.saves2, ids.logs]);
    const two = jsonLines((await cli('snapshots', '--latest', '2', '--json')).stdout).map((s) => s.id);
    expect(two).toEqual([ids.saves1, ids.saves2, ids.logs]);
    const tagged = jsonLines((await cli('snapshots', '--latest', '1', '--tag', 'nightly', '--json')).stdout);
    expect(tagged.map((s) => s.id)).toEqual([ids.saves1, ids.logs]);
    expect((await cli('snapshots', '--latest', '0')).code).toBe(2);
  });

  it('pg restore takes --tag, --host and --path for its base backups, and names them when none matches', async () => {
    const r = await cli(
      'pg',
      'restore',
      '--source',
      'saves',
      '--tag',
      'weekly',
      '--target',
      join(tmp(), 'pgdata'),
      '--restore-command',
      'false',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no base backup of source "saves" matching tag "weekly"');
  });
});
