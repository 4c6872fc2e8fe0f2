import { execFileSync } from 'node:child_process';
import {
  chown,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

const asRoot = process.getuid?.() === 0;

/** What a backup keeps and a restore rebuilds: the file-system details restic users rely on. */
describe('file metadata round trip', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  let target = '';
  const weird = Buffer.concat([Buffer.from('save-'), Buffer.from([0xff, 0xfe, 0x01]), Buffer.from('.bin')]);

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    target = join(tmp(), 'target');
    await mkdir(join(src, 'empty', 'nested-empty'), { recursive: true });
    await mkdir(join(src, 'dir'), { recursive: true });
    await writeFile(join(src, 'dir', 'exec.sh'), '#!/bin/sh\necho hi\n', { mode: 0o751 });
    await writeFile(join(src, 'dir', 'secret'), 'x', { mode: 0o600 });
    await writeFile(join(src, 'dir', 'zero-length'), '');
    await writeFile(join(src, 'a.txt'), 'shared content');
    await link(join(src, 'a.txt'), join(src, 'dir', 'hardlink-to-a'));
    await symlink('../a.txt', join(src, 'dir', 'rel-link'));
    await symlink('/nonexistent/target', join(src, 'dangling'));
    await writeFile(Buffer.concat([Buffer.from(`${src}/`), weird]), 'bytes name');
    await writeFile(join(src, 'юникод.txt'), 'кириллица');
    // A sparse file: 64 MiB apparent, two small data regions.
    const sparse = await open(join(src, 'sparse.img'), 'w');
    await sparse.write(Buffer.from('head'), 0, 4, 0);
    await sparse.write(Buffer.from('tail'), 0, 4, 64 * 1024 * 1024 - 4);
    await sparse.close();
    await utimes(
      join(src, 'a.txt'),
      new Date('2020-01-02T03:04:05.678Z'),
      new Date('2020-01-02T03:04:05.678Z'),
    );
    await utimes(join(src, 'dir'), new Date('2019-05-06T07:08:09Z'), new Date('2019-05-06T07:08:09Z'));
    if (asRoot) await chown(join(src, 'dir', 'secret'), 4321, 8765);
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    const b = await runCli(['--repo', repo, 'backup', src]);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    const r = await runCli(['--repo', repo, 'restore', 'latest', '--target', target, '--verify']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  const out = (p: string) => join(target, src, p);

  it('keeps file contents, modes, mtimes, empty folders, symlinks and folder times', async () => {
    expect(await describeTree(out(''))).toEqual(await describeTree(src));
  });

  it('keeps hard links as hard links', async () => {
    const a = await stat(out('a.txt'));
    const b = await stat(out('dir/hardlink-to-a'));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
  });

  it('keeps names that are not valid UTF-8, byte for byte', async () => {
    const names = (await readdir(out(''), { encoding: 'buffer' })) as Buffer[];
    expect(names.some((n) => n.equals(weird))).toBe(true);
    expect(await readFile(join(target, src, 'юникод.txt'), 'utf8')).toBe('кириллица');
  });

  it('keeps mtimes to the millisecond', async () => {
    expect((await lstat(out('a.txt'))).mtime.toISOString()).toBe('2020-01-02T03:04:05.678Z');
  });

  it('restores sparse files sparse', async () => {
    const s = await stat(out('sparse.img'));
    expect(s.size).toBe(64 * 1024 * 1024);
    expect(s.blocks * 512).toBeLessThan(16 * 1024 * 1024);
    const fd = await open(out('sparse.img'), 'r');
    const tail = Buffer.alloc(4);
    await fd.read(tail, 0, 4, s.size - 4);
    await fd.close();
    expect(tail.toString()).toBe('tail');
  });

  (asRoot ? it : it.skip)('keeps owners when run as root', async () => {
    const s = await stat(out('dir/secret'));
    expect([s.uid, s.gid]).toEqual([4321, 8765]);
  });

  (asRoot ? it : it.skip)(
    'gives files their own group in a set-group-ID target folder (no chown skipped there)',
    async () => {
      const sgid = join(tmp(), 'sgid-target');
      await mkdir(sgid);
      await chown(sgid, 0, 8765);
      execFileSync('chmod', ['2775', sgid]);
      const r = await runCli(['--repo', repo, 'restore', 'latest', '--target', sgid]);
      expect(r.code).toBe(0);
      // Created inside a set-group-ID folder, new entries take its group 8765; a.txt belongs to root's.
      const a = await stat(join(sgid, src, 'a.txt'));
      expect([a.uid, a.gid]).toEqual([0, 0]);
      const secret = await stat(join(sgid, src, 'dir', 'secret'));
      expect([secret.uid, secret.gid]).toEqual([4321, 8765]);
      const folder = await stat(join(sgid, src, 'dir'));
      expect(folder.gid).toBe(0);
    },
  );

  it('ls shows the metadata', async () => {
    const r = await runCli(['--repo', repo, 'ls', 'latest', '--long']);
    expect(r.stdout).toMatch(/-0751 .* \/.*dir\/exec.sh/);
    expect(r.stdout).toMatch(/l0777 .*\/dangling/);
  });

  it('the tree comparison notices a changed byte (so the round-trip checks above are not vacuous)', async () => {
    execFileSync('sh', ['-c', `printf X > '${out('dir/zero-length')}'`]);
    const restored = await describeTree(out(''));
    const original = await describeTree(src);
    expect(restored['/dir/zero-length']).not.toEqual(original['/dir/zero-length']);
    expect(restored['/a.txt']).toEqual(original['/a.txt']);
  });
});
