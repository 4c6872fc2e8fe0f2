import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeKeyring } from '../../lib/repo/keyring';
import type { Repository } from '../../lib/repo/repository';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { ExcludeMatcher } from '../../lib/sources/files/excludes';
import { Restorer } from '../../lib/sources/files/restorer';
import { TargetTree } from '../../lib/sources/files/target-dir';
import { runCli, ZAPAS_WORKER } from '../support/cli';
import { type CraftedNode, craftSnapshot, skipTreeChecks } from '../support/hostile-tree';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

/**
 * A repository written by someone else — a stolen key, a compromised writer — must never make a restore
 * write, chmod or link anything outside its target. The trees below are the shapes that broke node-tar
 * (a directory and a symlink of one name: CVE-2021-32803, -37701, -37712) and duplicacy (writing through
 * a symlink, CWE-59), and more. Each is tried three ways: through the CLI (the tree check refuses it,
 * naming snapshot, folder and name), and through the Restorer with the tree check switched off, without
 * and with worker threads (the filesystem layer must hold on its own).
 */

const PRECIOUS = Buffer.from('precious data that must not change\n');

/** Everything under `root` but `skip`: path → type, mode, owner, size, inode, links, mtime, content. */
async function world(root: string, skip: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (dir: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      if (path === skip) continue;
      const s = await lstat(path);
      const common = `mode=${(s.mode & 0o7777).toString(8)} uid=${s.uid} ino=${s.ino} links=${s.nlink} mtime=${s.mtimeMs}`;
      if (s.isDirectory()) {
        out[path] = `dir ${common}`;
        await visit(path);
      } else if (s.isSymbolicLink()) out[path] = `symlink ${common} -> ${await readlink(path)}`;
      else
        out[path] = `file ${common} size=${s.size} sha=${createHash('sha256')
          .update(await readFile(path))
          .digest('hex')}`;
    }
  };
  await visit(root);
  return out;
}

interface Sandbox {
  root: string;
  outside: string;
  victim: string;
  target: string;
}

async function sandbox(): Promise<Sandbox> {
  const root = await makeTempDir('zapas-hostile-');
  const outside = join(root, 'outside');
  await mkdir(join(outside, 'sub'), { recursive: true, mode: 0o755 });
  const victim = join(outside, 'victim');
  await writeFile(victim, PRECIOUS, { mode: 0o644 });
  return { root, outside, victim, target: join(root, 'target') };
}

const file = (name: string, extra: Partial<CraftedNode> = {}): CraftedNode => ({
  name,
  type: 'file',
  data: Buffer.from(`written by the attacker into ${name}\n`),
  mode: 0o4777,
  ...extra,
});
const dir = (name: string, children: CraftedNode[], mode = 0o777): CraftedNode => ({
  name,
  type: 'dir',
  mode,
  children,
});
const link = (name: string, target: string): CraftedNode => ({ name, type: 'symlink', target });

/** Each variant: the crafted root tree for a sandbox, and the name the CLI's refusal must give. */
const VARIANTS: { title: string; nodes: (s: Sandbox) => CraftedNode[]; repeated: string; folder: string }[] =
  [
    {
      title: 'a symlink `a` to a folder outside, then a folder `a` with files in it',
      nodes: (s) => [
        link('a', s.outside),
        dir('a', [file('victim'), file('planted'), dir('sub', [file('deeper')])]),
      ],
      repeated: 'a',
      folder: '/',
    },
    {
      title: 'a folder `a` first, then a symlink `a` to outside (the order reversed)',
      nodes: (s) => [dir('a', [file('planted')]), link('a', s.outside)],
      repeated: 'a',
      folder: '/',
    },
    {
      title: 'a relative symlink `up` to ../outside, then a folder `up` holding a setuid file',
      nodes: () => [link('up', '../outside'), dir('up', [file('victim', { mode: 0o6777 })])],
      repeated: 'up',
      folder: '/',
    },
    {
      title: 'a symlink `v` to a file outside, then a file `v`',
      nodes: (s) => [link('v', s.victim), file('v')],
      repeated: 'v',
      folder: '/',
    },
    {
      title: 'a file `v`, then a symlink `v` to a file outside',
      nodes: (s) => [file('v'), link('v', s.victim)],
      repeated: 'v',
      folder: '/',
    },
    {
      title: 'a symlink `e` to a file outside, then an empty file `e` (created without content)',
      nodes: (s) => [link('e', s.victim), file('e', { data: Buffer.alloc(0) })],
      repeated: 'e',
      folder: '/',
    },
    {
      title: 'a symlink `m` to a folder outside, then an empty folder `m` with mode 0777 to apply',
      nodes: (s) => [link('m', s.outside), dir('m', [], 0o7777)],
      repeated: 'm',
      folder: '/',
    },
    {
      title: 'a hard link whose first name lies under a symlinked folder',
      nodes: (s) => [
        link('d', s.outside),
        dir('d', [file('victim', { links: 2, inode: '77' })]),
        dir('z', [file('second', { links: 2, inode: '77' })]),
      ],
      repeated: 'd',
      folder: '/',
    },
    {
      title: 'a hard link whose later name lies under a symlinked folder',
      nodes: (s) => [
        dir('a', [file('first', { links: 2, inode: '78' })]),
        link('d', s.outside),
        dir('d', [file('victim', { links: 2, inode: '78' })]),
      ],
      repeated: 'd',
      folder: '/',
    },
    {
      title: 'the same trick one level down, in a nested folder',
      nodes: (s) => [dir('deep', [link('x', s.outside), dir('x', [file('victim')])])],
      repeated: 'x',
      folder: '/deep',
    },
    {
      title: 'a file repeated under one name (two different contents)',
      nodes: () => [file('twice'), file('twice', { data: Buffer.from('other') })],
      repeated: 'twice',
      folder: '/',
    },
  ];

async function restoreUnchecked(
  repo: Repository,
  id: string,
  target: string,
  pooled: boolean,
  include: string[] = [],
) {
  const { snapshot } = await repo.findSnapshot(id);
  const pool = pooled
    ? new WorkerPool(ZAPAS_WORKER, 2, { keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker })
    : undefined;
  try {
    return await new Restorer(repo, {
      ...(pool ? { pool } : {}),
      ...(include.length > 0 ? { include: new ExcludeMatcher(include) } : {}),
      planBatchBytes: 1,
    }).restore(snapshot.tree, target);
  } finally {
    await pool?.close();
  }
}

describe('restore never writes outside its target, whatever the repository holds', () => {
  describe.each(VARIANTS)('$title', ({ nodes, repeated, folder }) => {
    it('the CLI refuses the tree, naming the snapshot, the folder and the repeated name; nothing outside changes', async () => {
      const s = await sandbox();
      const { repo, dir: repoDir } = await makeTempRepo();
      const id = await craftSnapshot(repo, nodes(s));
      const before = await world(s.root, s.target);
      const r = await runCli(['--repo', repoDir, 'restore', id, '--target', s.target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`snapshot ${id.slice(0, 8)}`);
      expect(r.stderr).toContain(`folder ${folder}`);
      expect(r.stderr).toContain(`the name "${repeated}" appears twice`);
      expect(await world(s.root, s.target)).toEqual(before);
    });

    it.each([false, true])(
      'with the tree check off (workers: %s), the filesystem layer alone keeps everything inside',
      async (pooled) => {
        const s = await sandbox();
        const { repo } = await makeTempRepo();
        const id = await craftSnapshot(repo, nodes(s));
        skipTreeChecks(repo);
        const before = await world(s.root, s.target);
        await expect(restoreUnchecked(repo, id, s.target, pooled)).rejects.toThrow(
          /exists already|not a folder this restore made|no longer the file|a symlink took the place/,
        );
        expect(await world(s.root, s.target)).toEqual(before);
        expect(await readFile(s.victim)).toEqual(PRECIOUS);
      },
    );
  });

  it('with --include and the check off, folders made late (for a match) are made as safely', async () => {
    const s = await sandbox();
    const { repo } = await makeTempRepo();
    const id = await craftSnapshot(repo, [link('a', s.outside), dir('a', [dir('sub', [file('deeper')])])]);
    skipTreeChecks(repo);
    const before = await world(s.root, s.target);
    // Only the file matches: the symlink is left out, and `a` and `a/sub` are made when the file needs them.
    await restoreUnchecked(repo, id, s.target, false, ['/a/sub/deeper']);
    expect((await lstat(join(s.target, 'a'))).isDirectory()).toBe(true);
    expect(await readFile(join(s.target, 'a', 'sub', 'deeper'), 'utf8')).toContain('attacker');
    expect(await world(s.root, s.target)).toEqual(before);
    // Both match (a pattern without "/" matches the name anywhere): the late folder meets the symlink.
    await rm(s.target, { recursive: true, force: true });
    await expect(restoreUnchecked(repo, id, s.target, true, ['a', 'deeper'])).rejects.toThrow(
      /exists already/,
    );
    expect(await world(s.root, s.target)).toEqual(before);
  });

  it.each([
    ['..', 'the name ".."'],
    ['.', 'the name "."'],
    ['', 'an empty name'],
    ['../outside/victim', 'a name with "/"'],
    ['/etc/passwd', 'a name with "/"'],
    ['a\u0000b', 'a name with a NUL byte'],
  ])(
    'a node named %j is refused by the check and, with the check off, by the restore itself',
    async (name, why) => {
      const s = await sandbox();
      const { repo, dir: repoDir } = await makeTempRepo();
      const id = await craftSnapshot(repo, [link('a', s.outside), file(name)]);
      const before = await world(s.root, s.target);
      const r = await runCli(['--repo', repoDir, 'restore', id, '--target', s.target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`snapshot ${id.slice(0, 8)}`);
      expect(r.stderr).toContain(why);
      skipTreeChecks(repo);
      await rm(s.target, { recursive: true, force: true });
      await expect(restoreUnchecked(repo, id, s.target, false)).rejects.toThrow(/refused|exists already/);
      expect(await world(s.root, s.target)).toEqual(before);
    },
  );

  it('symlinks pointing outside are restored as symlinks, never followed: their targets keep mode and content', async () => {
    const s = await sandbox();
    const { repo, dir: repoDir } = await makeTempRepo();
    // Owner and mode of a symlink node would be applied to its target by chmod/chown; they must not be.
    const id = await craftSnapshot(repo, [
      { ...link('abs', s.victim), mode: 0o7777 },
      { ...link('rel', '../outside/victim'), mode: 0o7777, uid: 4242 },
      { ...link('dirlink', s.outside), mode: 0o7777 },
    ]);
    const before = await world(s.root, s.target);
    const r = await runCli(['--repo', repoDir, 'restore', id, '--target', s.target, '--verify']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await readlink(join(s.target, 'abs'))).toBe(s.victim);
    expect(await readlink(join(s.target, 'rel'))).toBe('../outside/victim');
    expect(await world(s.root, s.target)).toEqual(before);
  });

  it('`check` reports a tree whose names repeat as damage, naming the tree, folder and snapshot', async () => {
    const s = await sandbox();
    const { repo, dir: repoDir } = await makeTempRepo();
    const id = await craftSnapshot(repo, [dir('deep', [link('x', s.outside), dir('x', [file('victim')])])]);
    const r = await runCli(['--repo', repoDir, 'check']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/tree [0-9a-f]{64}: the name "x" appears twice/);
    expect(r.stdout + r.stderr).toContain(`folder /deep of snapshot ${id.slice(0, 8)}`);
  });

  it('`ls` and `diff` refuse such a tree too (every reader gets checked trees)', async () => {
    const s = await sandbox();
    const { repo, dir: repoDir } = await makeTempRepo();
    const id = await craftSnapshot(repo, [link('a', s.outside), dir('a', [file('victim')])]);
    const ls = await runCli(['--repo', repoDir, 'ls', id]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toContain('the name "a" appears twice');
  });
});

describe('the restore target as it changes under a running restore (a local attacker)', () => {
  it('a folder the restore made, swapped for a symlink, is not written through', async () => {
    const s = await sandbox();
    await mkdir(s.target);
    const tree = new TargetTree(s.target, { asRoot: false });
    try {
      const made = tree.root.child(Buffer.from('a'), {
        name: 'a',
        type: 'dir',
        mode: 0o777,
        uid: 0,
        gid: 0,
        mtimeNs: '0',
        ctimeNs: '0',
        inode: '0',
        device: '0',
        links: 1,
        size: 0,
      });
      made.materialize();
      // The attacker moves the folder away and puts a symlink to outside in its place.
      await rename(join(s.target, 'a'), join(s.target, 'moved'));
      await symlink(s.outside, join(s.target, 'a'));
      const before = await world(s.outside, '');
      // The restore goes on writing "into a": through the folder's descriptor, into the folder it made.
      await writeFile(made.entry(Buffer.from('victim')), 'attacker', { flag: 'wx' });
      expect(await world(s.outside, '')).toEqual(before);
      expect(await readFile(join(s.target, 'moved', 'victim'), 'utf8')).toBe('attacker');
      made.seal();
    } finally {
      tree.closeAll();
    }
  });

  it('a target that is not empty is refused before anything is written', async () => {
    const s = await sandbox();
    await mkdir(s.target);
    await symlink(s.outside, join(s.target, 'a'));
    const { repo } = await makeTempRepo();
    const id = await craftSnapshot(repo, [dir('a', [file('victim')])]);
    const before = await world(s.root, '');
    await expect(restoreUnchecked(repo, id, s.target, false)).rejects.toThrow(/is not empty/);
    expect(await world(s.root, '')).toEqual(before);
  });
});
