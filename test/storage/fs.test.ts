import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Repository } from '../../lib/repo/repository';
import {
  InvalidObjectNameError,
  NoSpaceError,
  ObjectExistsError,
  StorageError,
} from '../../lib/storage/errors';
import { FsStorage, mapFsError, TEMP_FILE_PREFIX } from '../../lib/storage/fs';
import { testKey } from '../support/repo';
import { useTempDir } from '../support/temp';
import { collect, describeStorageAdapter, rejection } from './conformance';

async function makeFsStorage(): Promise<{ storage: FsStorage; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'zapas-fs-storage-'));
  return {
    storage: new FsStorage(path.join(dir, 'repo')),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

describeStorageAdapter('FsStorage', makeFsStorage);

describe('FsStorage', () => {
  let storage: FsStorage;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ storage, cleanup } = await makeFsStorage());
  });
  afterEach(async () => {
    await cleanup();
  });

  /** Every entry under the root, recursively, '/'-separated. */
  async function allFiles(): Promise<string[]> {
    const entries = await readdir(storage.root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(storage.root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
  }

  it('uses the absolute root as its location', () => {
    expect(path.isAbsolute(storage.location)).toBe(true);
    expect(new FsStorage('relative/repo').location).toBe(path.resolve('relative/repo'));
  });

  it('stores an object as the file <root>/<name>', async () => {
    await storage.put('data/ab/ab12', Buffer.from('pack'));
    expect(await readFile(path.join(storage.root, 'data', 'ab', 'ab12'), 'utf8')).toBe('pack');
  });

  it('leaves no temp file behind after puts, replacing puts and failed ifAbsent puts', async () => {
    await storage.put('data/ab/one', Buffer.from('1'));
    await storage.put('data/ab/one', Buffer.from('2'));
    await storage.put('locks/l', Buffer.from('a'), { ifAbsent: true });
    await expect(storage.put('locks/l', Buffer.from('b'), { ifAbsent: true })).rejects.toBeInstanceOf(
      ObjectExistsError,
    );
    expect(await allFiles()).toEqual(['data/ab/one', 'locks/l']);
  });

  it('offers object writers, which leave no temp file after commit or abort', async () => {
    const w = await storage.createWriter('data/');
    await w.append([Buffer.from('pack bytes')]);
    expect((await allFiles()).filter((f) => f.startsWith('data/.tmp-'))).toHaveLength(1);
    await w.commit('data/ab/ab99');
    const aborted = await storage.createWriter('data/');
    await aborted.append([Buffer.from('never')]);
    await aborted.abort();
    expect(await allFiles()).toEqual(['data/ab/ab99']);
  });

  it('refuses to publish a written object of another size than the writer says (and leaves nothing)', async () => {
    const w = await storage.createWriter('data/');
    await w.append([Buffer.from('short')]);
    await expect(w.commit('data/ab/ab77', { size: 6 })).rejects.toThrow(/5 bytes, not 6/);
    expect(await allFiles()).toEqual([]);
  });

  it('never lists temp files (e.g. left by a crash mid-put)', async () => {
    await storage.put('data/ab/real', Buffer.from('real'));
    await writeFile(path.join(storage.root, 'data', 'ab', `${TEMP_FILE_PREFIX}deadbeef`), 'partial');
    await writeFile(path.join(storage.root, `${TEMP_FILE_PREFIX}0000`), 'partial');
    expect(await collect(storage.list(''))).toEqual([{ name: 'data/ab/real', size: 4 }]);
    expect(await collect(storage.list('data/ab/'))).toEqual([{ name: 'data/ab/real', size: 4 }]);
  });

  it('refuses object names that look like its temp files', async () => {
    await expect(storage.put(`data/${TEMP_FILE_PREFIX}x`, Buffer.from('x'))).rejects.toBeInstanceOf(
      InvalidObjectNameError,
    );
  });

  it('lets exactly one of many concurrent ifAbsent puts win, and keeps its content', async () => {
    const contenders = Array.from({ length: 12 }, (_, i) => `writer ${i}`);
    const results = await Promise.allSettled(
      contenders.map((text) => storage.put('locks/exclusive', Buffer.from(text), { ifAbsent: true })),
    );
    const winners = contenders.filter((_, i) => results[i]?.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(ObjectExistsError);
    }
    expect(await readFile(path.join(storage.root, 'locks', 'exclusive'), 'utf8')).toBe(winners[0]);
    expect(await allFiles()).toEqual(['locks/exclusive']);
  });

  it('writes nothing outside its root for a climbing name', async () => {
    await expect(storage.put('../outside', Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectNameError);
    await expect(readdir(path.dirname(storage.root))).resolves.toEqual([]);
  });

  it('reports a put blocked by a file where a folder should be as a StorageError naming the object', async () => {
    await mkdir(storage.root, { recursive: true });
    await writeFile(path.join(storage.root, 'data'), 'a file, not a folder');
    const error = await rejection(storage.put('data/ab/x', Buffer.from('x')));
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toContain('data/ab/x');
    expect((error as Error).cause).toMatchObject({ code: 'ENOTDIR' });
  });

  it('lists nothing when the root does not exist yet', async () => {
    expect(await collect(storage.list(''))).toEqual([]);
    expect(await collect(storage.list('data/'))).toEqual([]);
  });
});

describe('FsStorage file modes', () => {
  const tmp = useTempDir();
  let umask = 0;
  beforeEach(() => {
    // What the modes are must not depend on the umask: with none, a plain open() would make 0666.
    umask = process.umask(0);
  });
  afterEach(() => {
    process.umask(umask);
  });

  /** Every entry under `root` with its mode, e.g. `keys/ab12 600`; the root itself as `.`. */
  async function modes(root: string): Promise<string[]> {
    const out = [`. ${((await stat(root)).mode & 0o777).toString(8)}`];
    for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
      const full = path.join(e.parentPath, e.name);
      out.push(`${path.relative(root, full)} ${((await stat(full)).mode & 0o777).toString(8)}`);
    }
    return out.sort();
  }

  it('a new repository: key slot, config, locks and every object 0600, every folder 0700', async () => {
    const root = path.join(tmp(), 'new', 'repo');
    const storage = new FsStorage(root);
    const repo = await Repository.init(storage, testKey());
    await storage.put('locks/0123', Buffer.from('lock'));
    const w = await storage.createWriter('data/ab/');
    await w.append([Buffer.from('pack')]);
    await w.commit('data/ab/ab12');
    await repo.storage.put('snapshots/00', Buffer.from('x'), { ifAbsent: true });
    const found = await modes(root);
    expect(found.length).toBeGreaterThan(6);
    for (const line of found) {
      const [name, mode] = line.split(' ');
      const isDir = (await stat(path.join(root, name!))).isDirectory();
      expect(`${name} ${mode}`).toBe(`${name} ${isDir ? '700' : '600'}`);
    }
    // The folders above the repository that init made are the user's only, too.
    expect(((await stat(path.join(tmp(), 'new'))).mode & 0o777).toString(8)).toBe('700');
  });

  it('init on a folder that exists keeps its mode', async () => {
    const root = path.join(tmp(), 'shared');
    await mkdir(root);
    await chmod(root, 0o750); // e.g. readable by a backup group, as the operator set it
    await Repository.init(new FsStorage(root), testKey());
    expect(((await stat(root)).mode & 0o777).toString(8)).toBe('750');
    expect(((await stat(path.join(root, 'config'))).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(path.join(root, 'keys'))).mode & 0o777).toString(8)).toBe('700');
  });
});

describe('mapFsError', () => {
  const errno = (code: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: something happened`), { code });

  it.each(['ENOSPC', 'EDQUOT'])('maps %s to NoSpaceError naming the object and the folder', (code) => {
    const cause = errno(code);
    const error = mapFsError(cause, 'write', 'data/ab/ab12', '/srv/repo/data/ab');
    expect(error).toBeInstanceOf(NoSpaceError);
    expect(error.message).toContain('data/ab/ab12');
    expect(error.message).toContain('/srv/repo/data/ab');
    expect(error.message).toContain(code);
    expect(error.cause).toBe(cause);
  });

  it('maps other errors to a StorageError naming the operation and object, with the cause', () => {
    const cause = errno('EACCES');
    const error = mapFsError(cause, 'read', 'index/0001', '/srv/repo');
    expect(error).toBeInstanceOf(StorageError);
    expect(error).not.toBeInstanceOf(NoSpaceError);
    expect(error.message).toMatch(/read of index\/0001 in \/srv\/repo failed: EACCES/);
    expect(error.cause).toBe(cause);
  });

  it('passes storage errors through unchanged', () => {
    const original = new ObjectExistsError('x', '/srv/repo');
    expect(mapFsError(original, 'write', 'x', '/srv/repo')).toBe(original);
  });
});

describe('FsStorage ranged reads into a given buffer', () => {
  const tmp = useTempDir('zapas-fs-into-');

  it('fill that buffer: the result is a view of it (a restore reuses its read buffers)', async () => {
    const storage = new FsStorage(tmp());
    await storage.put('data/ab/obj', Buffer.from('0123456789'));
    const into = Buffer.alloc(64);
    const part = await storage.get('data/ab/obj', { offset: 2, length: 5 }, { into });
    expect(part.toString()).toBe('23456');
    expect(part.buffer).toBe(into.buffer);
    expect(part.byteOffset).toBe(into.byteOffset);
  });
});
