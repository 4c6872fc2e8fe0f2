import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jsonLines, lastJson, runCli } from '../support/cli';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

describe('key slots', () => {
  const tmp = useTempDir();

  it('add, list, passwd and remove key slots; old passwords stop working', async () => {
    const repo = join(tmp(), 'repo');
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    const add = await runCli(['--repo', repo, 'key', 'add'], { ZAPAS_NEW_PASSWORD: 'second password' });
    expect(add.code).toBe(0);
    let slots = jsonLines((await runCli(['--repo', repo, 'key', 'list', '--json'])).stdout);
    expect(slots).toHaveLength(2);
    expect(slots.filter((s) => s.current)).toHaveLength(1);
    expect((await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: 'second password' })).code).toBe(0);

    // The slot in use cannot remove itself; another password can remove it.
    const mine = slots.find((s) => s.current)!.id as string;
    expect((await runCli(['--repo', repo, 'key', 'remove', mine.slice(0, 8)])).code).toBe(1);
    expect(
      (
        await runCli(['--repo', repo, 'key', 'remove', mine.slice(0, 8)], {
          ZAPAS_PASSWORD: 'second password',
        })
      ).code,
    ).toBe(0);
    expect((await runCli(['--repo', repo, 'snapshots'])).code).toBe(12);

    const passwd = await runCli(['--repo', repo, 'key', 'passwd'], {
      ZAPAS_PASSWORD: 'second password',
      ZAPAS_NEW_PASSWORD: 'third password',
    });
    expect(passwd.code).toBe(0);
    expect((await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: 'second password' })).code).toBe(
      12,
    );
    expect((await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: 'third password' })).code).toBe(0);
    slots = jsonLines(
      (await runCli(['--repo', repo, 'key', 'list', '--json'], { ZAPAS_PASSWORD: 'third password' })).stdout,
    );
    expect(slots).toHaveLength(1);
    // The last slot can never be removed: the data would be lost.
    const last = await runCli(['--repo', repo, 'key', 'remove', (slots[0]!.id as string).slice(0, 8)], {
      ZAPAS_PASSWORD: 'third password',
    });
    expect(last.code).toBe(1);
  });

  it('reads passwords from files, never from argv', async () => {
    const repo = join(tmp(), 'repo-pwfile');
    const pw = join(tmp(), 'pw.txt');
    await writeFile(pw, 'from a file\n');
    expect(
      (await runCli(['--repo', repo, '--password-file', pw, 'init'], { ZAPAS_PASSWORD: undefined })).code,
    ).toBe(0);
    expect(
      (await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: undefined, ZAPAS_PASSWORD_FILE: pw }))
        .code,
    ).toBe(0);
    expect((await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: 'from a file' })).code).toBe(0);
    const none = await runCli(['--repo', repo, 'snapshots'], { ZAPAS_PASSWORD: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no password given/);
    expect((await runCli(['--repo', repo, '--password', 'x', 'snapshots'])).code).toBe(2);
  });

  it('never stores the master key or a password in the clear', async () => {
    const repo = join(tmp(), 'repo-secret');
    expect(
      (await runCli(['--repo', repo, 'init'], { ZAPAS_PASSWORD: 'very-unique-password-123' })).code,
    ).toBe(0);
    const tree = await describeTree(repo, { times: false });
    const { readFile } = await import('node:fs/promises');
    for (const path of Object.keys(tree).filter((p) => tree[p]!.startsWith('file'))) {
      const bytes = await readFile(join(repo, path));
      expect(bytes.includes(Buffer.from('very-unique-password-123'))).toBe(false);
      expect(bytes.includes(Buffer.from('dataKeys'))).toBe(false);
    }
  });
});

describe('copy', () => {
  const tmp = useTempDir();

  it('copies snapshots into a repository with its own key; a second copy moves nothing', async () => {
    const a = join(tmp(), 'a');
    const b = join(tmp(), 'b');
    const src = join(tmp(), 'src');
    await mkdir(src);
    await writeFile(join(src, 'one.txt'), 'one '.repeat(10000));
    await writeFile(join(src, 'two.txt'), 'two');
    expect((await runCli(['--repo', a, 'init'])).code).toBe(0);
    expect((await runCli(['--repo', b, 'init'], { ZAPAS_PASSWORD: 'other' })).code).toBe(0);
    await runCli(['--repo', a, 'backup', src, '--tag', 't1']);
    await writeFile(join(src, 'three.txt'), 'three');
    await runCli(['--repo', a, 'backup', src]);

    const first = await runCli(['--repo', a, 'copy', '--to', b, '--json'], { ZAPAS_TO_PASSWORD: 'other' });
    expect(first.code).toBe(0);
    const r1 = lastJson<{ copied: unknown[]; blobsAdded: number }>(first.stdout);
    expect(r1.copied).toHaveLength(2);
    const second = await runCli(['--repo', a, 'copy', '--to', b, '--json'], { ZAPAS_TO_PASSWORD: 'other' });
    const r2 = lastJson<{ copied: unknown[]; skipped: unknown[]; bytesAdded: number }>(second.stdout);
    expect(r2.copied).toHaveLength(0);
    expect(r2.skipped).toHaveLength(2);
    expect(r2.bytesAdded).toBe(0);

    const listed = jsonLines(
      (await runCli(['--repo', b, 'snapshots', '--json'], { ZAPAS_PASSWORD: 'other' })).stdout,
    );
    expect(listed).toHaveLength(2);
    expect(listed[0]!.tags).toEqual(['t1']);
    expect((await runCli(['--repo', b, 'check', '--read-data'], { ZAPAS_PASSWORD: 'other' })).code).toBe(0);
    const target = join(tmp(), 'restored');
    expect(
      (
        await runCli(['--repo', b, 'restore', 'latest', '--target', target, '--verify'], {
          ZAPAS_PASSWORD: 'other',
        })
      ).code,
    ).toBe(0);
    expect(await describeTree(join(target, src))).toEqual(await describeTree(src));
  });

  it('a wrong destination password exits 12 before anything is written', async () => {
    const a = join(tmp(), 'a');
    const b = join(tmp(), 'b');
    const r = await runCli(['--repo', a, 'copy', '--to', b], { ZAPAS_TO_PASSWORD: 'wrong' });
    expect(r.code).toBe(12);
  });
});
