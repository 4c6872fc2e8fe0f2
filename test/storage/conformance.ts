import {
  InvalidObjectNameError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectTruncatedError,
  StorageError,
} from '../../lib/storage/errors';
import type { ObjectInfo, Storage } from '../../lib/storage/storage';

/** One adapter instance for one test, with a fresh empty namespace, and how to dispose of it. */
export interface StorageUnderTest {
  readonly storage: Storage;
  cleanup(): Promise<void>;
}

const MIB = 1024 * 1024;
/** Larger than the S3 adapter's multipart threshold (16 MiB), so the multipart path is exercised. */
const LARGE_OBJECT_BYTES = 20 * MIB;
/** More than one ListObjectsV2 page (1000 keys). */
const MANY_OBJECTS = 1100;
/** Puts in flight while filling the many-objects listing. */
const FILL_CONCURRENCY = 32;

/**
 * The behaviour every Storage adapter must show (the port's contract in lib/storage/storage.ts).
 * A new adapter is proven by one line: `describeStorageAdapter('MyStorage', makeMine)`. `make` is
 * called before each test and must return a storage with nothing in it.
 */
export function describeStorageAdapter(name: string, make: () => Promise<StorageUnderTest>): void {
  describe(`Storage conformance: ${name}`, () => {
    let subject: StorageUnderTest | undefined;
    let storage: Storage;
    beforeEach(async () => {
      subject = await make();
      storage = subject.storage;
    });
    afterEach(async () => {
      await subject?.cleanup();
      subject = undefined;
    });

    describe('createWriter (for adapters that offer it)', () => {
      /** The adapter's writer; an adapter without one must not pretend (the writer tests then check only that). */
      const writerOf = async (folder: string) => {
        if (!storage.createWriter) {
          expect(storage.createWriter).toBeUndefined();
          return undefined;
        }
        return storage.createWriter(folder);
      };
      const sortedList = async (s: Storage) =>
        (await collect(s.list(''))).sort((a, b) => a.name.localeCompare(b.name));

      it('publishes the appended parts under the name given at commit, invisible before', async () => {
        const w = await writerOf('data/');
        if (!w) return;
        const a = pattern(300_000, 1);
        const b = pattern(5, 2);
        await w.append([a]);
        await w.append([b, a.subarray(0, 10)]);
        expect(await sortedList(storage)).toEqual([]);
        await w.commit('data/ab/packed');
        expect((await storage.get('data/ab/packed')).equals(Buffer.concat([a, b, a.subarray(0, 10)]))).toBe(
          true,
        );
        expect(await sortedList(storage)).toEqual([{ name: 'data/ab/packed', size: 300_015 }]);
      });

      it('commits with ifAbsent as put does: ObjectExistsError, the original untouched, nothing left over', async () => {
        const w = await writerOf('data/');
        if (!w) return;
        await storage.put('data/ab/taken', Buffer.from('original'));
        await w.append([Buffer.from('other')]);
        await expect(w.commit('data/ab/taken', { ifAbsent: true })).rejects.toBeInstanceOf(ObjectExistsError);
        expect((await storage.get('data/ab/taken')).toString()).toBe('original');
        expect(await sortedList(storage)).toEqual([{ name: 'data/ab/taken', size: 8 }]);
      });

      it('leaves nothing after abort, and refuses appends after it', async () => {
        const w = await writerOf('data/');
        if (!w) return;
        await w.append([pattern(1000, 3)]);
        await w.abort();
        await expect(w.append([Buffer.from('x')])).rejects.toBeInstanceOf(StorageError);
        expect(await sortedList(storage)).toEqual([]);
      });
    });

    describe('put and get', () => {
      it.each([
        ['an empty', 0],
        ['a one-byte', 1],
        ['a small', 1000],
      ])('round-trips a %s object', async (_label, size) => {
        const data = pattern(size, size + 1);
        await storage.put('data/ab/obj', data);
        expect(Buffer.compare(await storage.get('data/ab/obj'), data)).toBe(0);
        expect(await storage.head('data/ab/obj')).toEqual({ name: 'data/ab/obj', size });
      });

      it('round-trips a 20 MiB object and reads ranges across its parts', async () => {
        const data = pattern(LARGE_OBJECT_BYTES, 7);
        await storage.put('data/cd/large', data);
        const back = await storage.get('data/cd/large');
        expect(back.length).toBe(LARGE_OBJECT_BYTES);
        expect(Buffer.compare(back, data)).toBe(0);
        for (const [offset, length] of [
          [0, 100],
          [8 * MIB - 10, 20], // across the first 8 MiB part boundary of a multipart upload
          [LARGE_OBJECT_BYTES - 5, 5],
        ] as const) {
          expect(
            Buffer.compare(
              await storage.get('data/cd/large', { offset, length }),
              data.subarray(offset, offset + length),
            ),
          ).toBe(0);
        }
      });

      it('round-trips names with spaces and URL-special characters', async () => {
        const name = 'odd/a b+c=d%e~f,g;h';
        await storage.put(name, Buffer.from('odd'));
        expect((await storage.get(name)).toString()).toBe('odd');
        expect(await collect(storage.list('odd/'))).toEqual([{ name, size: 3 }]);
      });

      it('keeps names with many levels', async () => {
        const name = 'a/b/c/d/e/f/g/h/i/j/k/obj';
        await storage.put(name, Buffer.from('deep'));
        expect((await storage.get(name)).toString()).toBe('deep');
        expect(await storage.head(name)).toEqual({ name, size: 4 });
        expect(await collect(storage.list('a/b/c/'))).toEqual([{ name, size: 4 }]);
      });

      it('replaces an object on a put without ifAbsent', async () => {
        await storage.put('config', Buffer.from('one'));
        await storage.put('config', Buffer.from('two!'));
        expect((await storage.get('config')).toString()).toBe('two!');
        expect(await storage.head('config')).toEqual({ name: 'config', size: 4 });
      });
    });

    describe('ranged get', () => {
      const data = pattern(1000, 3);
      beforeEach(async () => {
        await storage.put('data/ab/ranged', data);
      });

      it.each([
        ['start', 0, 10],
        ['middle', 400, 123],
        ['end', 990, 10],
        ['whole', 0, 1000],
      ])('reads the %s', async (_label, offset, length) => {
        const part = await storage.get('data/ab/ranged', { offset, length });
        expect(Buffer.compare(part, data.subarray(offset, offset + length))).toBe(0);
      });

      it('reads a range into a buffer it is given when that is large enough; the result holds the range', async () => {
        const into = Buffer.alloc(200, 0xee);
        const part = await storage.get('data/ab/ranged', { offset: 400, length: 123 }, { into });
        expect(Buffer.compare(part, data.subarray(400, 523))).toBe(0);
        // Too small a buffer is not used (nor written past its end).
        const small = Buffer.alloc(10, 0xee);
        const whole = await storage.get('data/ab/ranged', { offset: 0, length: 1000 }, { into: small });
        expect(Buffer.compare(whole, data)).toBe(0);
        expect(small.equals(Buffer.alloc(10, 0xee))).toBe(true);
      });

      it('reads zero bytes as an empty buffer, also at the very end', async () => {
        expect((await storage.get('data/ab/ranged', { offset: 10, length: 0 })).length).toBe(0);
        expect((await storage.get('data/ab/ranged', { offset: 1000, length: 0 })).length).toBe(0);
      });

      it('fails with ObjectTruncatedError for a range past the end', async () => {
        for (const range of [
          { offset: 995, length: 10 },
          { offset: 1000, length: 1 },
          { offset: 5000, length: 10 },
          { offset: 1001, length: 0 },
        ]) {
          const error = await rejection(storage.get('data/ab/ranged', range));
          expect(error).toBeInstanceOf(ObjectTruncatedError);
          expect((error as ObjectTruncatedError).objectName).toBe('data/ab/ranged');
        }
      });

      it('fails with ObjectNotFoundError for a range of a missing object', async () => {
        await expect(storage.get('data/ab/missing', { offset: 0, length: 10 })).rejects.toBeInstanceOf(
          ObjectNotFoundError,
        );
        await expect(storage.get('data/ab/missing', { offset: 0, length: 0 })).rejects.toBeInstanceOf(
          ObjectNotFoundError,
        );
      });

      it('rejects a negative or fractional range', async () => {
        await expect(storage.get('data/ab/ranged', { offset: -1, length: 10 })).rejects.toBeInstanceOf(
          StorageError,
        );
        await expect(storage.get('data/ab/ranged', { offset: 0, length: 1.5 })).rejects.toBeInstanceOf(
          StorageError,
        );
      });
    });

    describe('missing objects', () => {
      it('fails get with ObjectNotFoundError naming the object', async () => {
        const error = await rejection(storage.get('snapshots/missing'));
        expect(error).toBeInstanceOf(ObjectNotFoundError);
        expect((error as ObjectNotFoundError).objectName).toBe('snapshots/missing');
        expect((error as Error).message).toContain('snapshots/missing');
        expect((error as Error).message).toContain(storage.location);
      });

      it('answers head with undefined', async () => {
        expect(await storage.head('snapshots/missing')).toBeUndefined();
      });

      it('treats a name that is only a prefix of other names as absent', async () => {
        await storage.put('data/ab/obj', Buffer.from('x'));
        expect(await storage.head('data')).toBeUndefined();
        expect(await storage.head('data/ab')).toBeUndefined();
        await expect(storage.get('data/ab')).rejects.toBeInstanceOf(ObjectNotFoundError);
      });
    });

    describe('put with ifAbsent', () => {
      it('creates an absent object', async () => {
        await storage.put('locks/one', Buffer.from('mine'), { ifAbsent: true });
        expect((await storage.get('locks/one')).toString()).toBe('mine');
      });

      it('fails with ObjectExistsError and leaves the original untouched', async () => {
        await storage.put('locks/one', Buffer.from('first'));
        const error = await rejection(storage.put('locks/one', Buffer.from('second!'), { ifAbsent: true }));
        expect(error).toBeInstanceOf(ObjectExistsError);
        expect((error as ObjectExistsError).objectName).toBe('locks/one');
        expect((await storage.get('locks/one')).toString()).toBe('first');
        expect(await collect(storage.list('locks/'))).toEqual([{ name: 'locks/one', size: 5 }]);
      });

      it('fails with ObjectExistsError for a large body too', async () => {
        await storage.put('data/ef/pack', Buffer.from('small original'));
        const large = pattern(LARGE_OBJECT_BYTES, 11);
        await expect(storage.put('data/ef/pack', large, { ifAbsent: true })).rejects.toBeInstanceOf(
          ObjectExistsError,
        );
        expect((await storage.get('data/ef/pack')).toString()).toBe('small original');
      });
    });

    describe('list', () => {
      const objects: Record<string, string> = {
        'data/ab/ab01': 'one',
        'data/ab/ab02': 'two!',
        'data/cd/cd01': 'three',
        datafile: 'x',
        'index/0001': 'idx',
        'snapshots/s1': 'snap',
        config: 'cfg',
      };
      beforeEach(async () => {
        await Promise.all(
          Object.entries(objects).map(([name, text]) => storage.put(name, Buffer.from(text))),
        );
      });

      it.each([
        ['data/', ['data/ab/ab01', 'data/ab/ab02', 'data/cd/cd01']],
        ['data/ab/', ['data/ab/ab01', 'data/ab/ab02']],
        ['data/a', ['data/ab/ab01', 'data/ab/ab02']],
        ['data/ab/ab0', ['data/ab/ab01', 'data/ab/ab02']],
        ['data', ['data/ab/ab01', 'data/ab/ab02', 'data/cd/cd01', 'datafile']],
        ['index/', ['index/0001']],
        ['config', ['config']],
        ['nothing/', []],
        ['data/zz/', []],
        ['', Object.keys(objects)],
      ])('lists prefix %j', async (prefix, expected) => {
        const listed = await collect(storage.list(prefix));
        expect(sortByName(listed)).toEqual(
          [...expected].sort().map((name) => ({ name, size: Buffer.byteLength(objects[name] ?? '') })),
        );
      });

      it('can be abandoned part way', async () => {
        for await (const info of storage.list('')) {
          expect(info.name).toBeTruthy();
          break;
        }
        expect(await collect(storage.list('index/'))).toHaveLength(1);
      });
    });

    it(`lists more than 1000 objects (${MANY_OBJECTS}, several pages)`, async () => {
      const names = Array.from(
        { length: MANY_OBJECTS },
        (_, i) =>
          `many/${(i % 16).toString(16)}${((i >> 4) % 16).toString(16)}/${String(i).padStart(5, '0')}`,
      );
      await inParallel(names, FILL_CONCURRENCY, (name) => storage.put(name, Buffer.from(name)));
      const listed = await collect(storage.list('many/'));
      expect(listed).toHaveLength(MANY_OBJECTS);
      expect(sortByName(listed)).toEqual([...names].sort().map((name) => ({ name, size: name.length })));
      expect(await collect(storage.list('many/0'))).toHaveLength(
        names.filter((n) => n.startsWith('many/0')).length,
      );
    });

    describe('delete', () => {
      it('removes an object', async () => {
        await storage.put('data/ab/gone', Buffer.from('bye'));
        await storage.put('data/ab/kept', Buffer.from('hi'));
        await storage.delete('data/ab/gone');
        await expect(storage.get('data/ab/gone')).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await storage.head('data/ab/gone')).toBeUndefined();
        expect(await collect(storage.list('data/'))).toEqual([{ name: 'data/ab/kept', size: 2 }]);
      });

      it('accepts an absent object, also twice', async () => {
        await storage.delete('data/ab/never');
        await storage.delete('nowhere/at/all');
        await storage.put('x', Buffer.from('x'));
        await storage.delete('x');
        await storage.delete('x');
        expect(await storage.head('x')).toBeUndefined();
      });

      it('lets an ifAbsent put create the name again', async () => {
        await storage.put('locks/l', Buffer.from('a'), { ifAbsent: true });
        await storage.delete('locks/l');
        await storage.put('locks/l', Buffer.from('b'), { ifAbsent: true });
        expect((await storage.get('locks/l')).toString()).toBe('b');
      });
    });

    describe('names', () => {
      const invalid = [
        '',
        '/abs',
        'trailing/',
        'a//b',
        '../escape',
        'a/../../b',
        './a',
        'a/.',
        'back\\slash',
        'nul\0',
      ];

      it.each(invalid.map((n) => [JSON.stringify(n), n]))('rejects %s everywhere', async (_label, name) => {
        await expect(storage.put(name, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidObjectNameError);
        await expect(storage.get(name)).rejects.toBeInstanceOf(InvalidObjectNameError);
        await expect(storage.head(name)).rejects.toBeInstanceOf(InvalidObjectNameError);
        await expect(storage.delete(name)).rejects.toBeInstanceOf(InvalidObjectNameError);
      });

      it('rejects list prefixes that climb out', async () => {
        for (const prefix of ['../', '/abs', 'a//', '..']) {
          await expect(collect(storage.list(prefix))).rejects.toBeInstanceOf(InvalidObjectNameError);
        }
      });
    });
  });
}

/** Deterministic pseudo-random bytes (xorshift32), so a failure replays with the same data. */
export function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  let i = 0;
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, i);
  }
  for (; i < size; i++) out[i] = i & 0xff;
  return out;
}

/** Drains an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Runs `run` over `items` with at most `limit` calls in flight. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await run(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The rejection reason of a promise that must reject (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

function sortByName(items: readonly ObjectInfo[]): ObjectInfo[] {
  return [...items].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
