import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runCli } from '../support/cli';
import { cut, flipBit, objectName, objectsIn } from '../support/damage';
import { useTempDir } from '../support/temp';

/** Bad input and damage: each gives a clear error naming what is wrong, a non-zero exit, and no silently wrong restore. */
describe('zapas CLI faults', () => {
  const tmp = useTempDir();
  let pristine = '';
  let src = '';

  beforeAll(async () => {
    pristine = join(tmp(), 'pristine');
    src = join(tmp(), 'src');
    await mkdir(join(src, 'a'), { recursive: true });
    // Incompressible, so the data pack is far larger than the tree pack and tests can tell them apart.
    for (let i = 0; i < 20; i++) await writeFile(join(src, 'a', `f${i}.bin`), randomBytes(10_000 + i));
    expect((await runCli(['--repo', pristine, 'init'])).code).toBe(0);
    expect((await runCli(['--repo', pristine, 'backup', src, '--json'])).code).toBe(0);
  });

  /** A fresh copy of the healthy repository, to damage. */
  async function copyRepo(name: string): Promise<string> {
    const dir = join(tmp(), name);
    await cp(pristine, dir, { recursive: true });
    return dir;
  }

  async function expectNoSilentRestore(repo: string, named: string) {
    const target = join(tmp(), `restore-${basename(repo)}`);
    const r = await runCli(['--repo', repo, 'restore', 'latest', '--target', target]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(named);
  }

  it('a wrong password exits 12 and says so', async () => {
    const r = await runCli(['--repo', pristine, 'snapshots'], { ZAPAS_PASSWORD: 'wrong' });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/wrong password or key/);
    expect(r.stderr).not.toContain('wrong"');
  });

  it('a repository URL where nothing exists exits 10', async () => {
    const r = await runCli(['--repo', join(tmp(), 'nothing-here'), 'snapshots']);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/no repository at .*nothing-here/);
  });

  it('an unsupported repository URL is a usage error (2)', async () => {
    const r = await runCli(['--repo', 'ftp://host/x', 'snapshots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ftp/);
  });

  it('wrong usage exits 2: unknown flag, missing argument, no repository', async () => {
    expect((await runCli(['--repo', pristine, 'backup', '--no-such-flag', src])).code).toBe(2);
    expect((await runCli(['--repo', pristine, 'restore', 'latest'])).code).toBe(2);
    expect((await runCli(['snapshots'])).code).toBe(2);
    expect((await runCli(['no-such-verb'])).code).toBe(2);
  });

  it('a bit-flipped pack: check --read-data names it, restore fails naming it', async () => {
    const repo = await copyRepo('flipped-pack');
    const packs = await objectsIn(repo, 'data');
    const sizes = await Promise.all(packs.map(async (p) => (await stat(p)).size));
    const pack = packs[sizes.indexOf(Math.max(...sizes))];
    await flipBit(pack!, 100);
    expect((await runCli(['--repo', repo, 'check'])).code).toBe(0); // structure is intact
    const r = await runCli(['--repo', repo, 'check', '--read-data']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(objectName(repo, pack!));
    await expectNoSilentRestore(repo, objectName(repo, pack!));
  });

  it('a truncated pack: check names it', async () => {
    const repo = await copyRepo('truncated-pack');
    const packs = await objectsIn(repo, 'data');
    for (const p of packs) await cut(p, 50);
    const r = await runCli(['--repo', repo, 'check']);
    expect(r.code).toBe(1);
    for (const p of packs) expect(r.stderr).toContain(objectName(repo, p));
    await expectNoSilentRestore(repo, 'data/');
  });

  it('a missing pack: check names it, restore fails naming it', async () => {
    const repo = await copyRepo('missing-pack');
    const packs = await objectsIn(repo, 'data');
    for (const p of packs) await rm(p);
    const r = await runCli(['--repo', repo, 'check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pack missing/);
    for (const p of packs) expect(r.stderr).toContain(objectName(repo, p));
    await expectNoSilentRestore(repo, 'data/');
  });

  it('a bit-flipped index object: check names it, restore refuses', async () => {
    const repo = await copyRepo('flipped-index');
    const [index] = await objectsIn(repo, 'index');
    await flipBit(index!, -5);
    const r = await runCli(['--repo', repo, 'check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(objectName(repo, index!));
    await expectNoSilentRestore(repo, objectName(repo, index!));
  });

  it('a truncated snapshot object: check names it', async () => {
    const repo = await copyRepo('cut-snapshot');
    const [snap] = await objectsIn(repo, 'snapshots');
    await cut(snap!, 20);
    const r = await runCli(['--repo', repo, 'check']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(objectName(repo, snap!));
  });

  it('a damaged snapshot does not stop new backups or hide the other snapshots', async () => {
    const repo = await copyRepo('one-bad-snapshot');
    expect((await runCli(['--repo', repo, 'backup', src, '--source', 'second'])).code).toBe(0);
    const [bad] = await objectsIn(repo, 'snapshots');
    await cut(bad!, 30);
    const listed = await runCli(['--repo', repo, 'snapshots', '--json']);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain(objectName(repo, bad!));
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);
    const backup = await runCli(['--repo', repo, 'backup', src]);
    expect(backup.code).toBe(3);
    expect(backup.stderr).toContain(objectName(repo, bad!));
    expect(backup.stdout).toMatch(/snapshot [0-9a-f]{8} saved/);
  });

  it('a damaged config or key slot is named', async () => {
    const repo = await copyRepo('flipped-config');
    await flipBit(join(repo, 'config'), -3);
    const r = await runCli(['--repo', repo, 'snapshots']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/config/);
    const repo2 = await copyRepo('flipped-key');
    const [slot] = await objectsIn(repo2, 'keys');
    await writeFile(slot!, '{not json');
    const r2 = await runCli(['--repo', repo2, 'snapshots']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(objectName(repo2, slot!));
  });

  it('prune refuses to run on a repository with an unreadable tree (it could delete the last copy)', async () => {
    const repo = await copyRepo('prune-damaged');
    const packs = await objectsIn(repo, 'data');
    for (const p of packs) await rm(p);
    const r = await runCli(['--repo', repo, 'prune']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refusing to prune/);
  });

  it('backup of a path that does not exist is refused (exit 1, the path named) and writes no snapshot', async () => {
    const missing = join(tmp(), 'no-such-folder');
    const before = (await objectsIn(pristine, 'snapshots')).length;
    for (const paths of [[missing], [src, missing]]) {
      const r = await runCli(['--repo', pristine, 'backup', ...paths]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`refusing to back up: ${missing} does not exist`);
      expect(r.stdout).not.toMatch(/snapshot [0-9a-f]{8} saved/);
    }
    expect(await objectsIn(pristine, 'snapshots')).toHaveLength(before);
  });
});
