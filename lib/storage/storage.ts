/**
 * The Storage port: everything the repository needs from a place that keeps objects.
 * Names are relative to the repository root and use '/' (e.g. `data/ab/ab12…`); adapters map them
 * to files or keys. Objects are immutable once written (DESIGN.md invariant 2), so the port has no
 * "update": a name is written once, read many times, and deleted by prune.
 */
export interface ObjectInfo {
  /** Name relative to the repository root, '/'-separated. */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface GetOptions {
  /**
   * A buffer the adapter may read a range into, when it is large enough (a caller that reads many ranges
   * reuses its buffers instead of touching fresh memory each time). The result is then a view of it;
   * callers always use the result, which an adapter may also allocate itself.
   */
  readonly into?: Buffer;
}

export interface PutOptions {
  /** Fail with ObjectExistsError instead of replacing an object that is already there. */
  readonly ifAbsent?: boolean;
}

/** An object's bytes: one buffer, or parts written in order (a pack's blobs, without concatenating them). */
export type PutData = Uint8Array | readonly Uint8Array[];

/** The total length of PutData. */
export function putDataLength(data: PutData): number {
  return Array.isArray(data)
    ? data.reduce((n: number, p: Uint8Array) => n + p.length, 0)
    : (data as Uint8Array).length;
}

export interface Storage {
  /** Where the objects live, for messages (never contains credentials). */
  readonly location: string;
  /** Writes `data` under `name`; resolves only once the object is durable. */
  put(name: string, data: PutData, opts?: PutOptions): Promise<void>;
  /** Reads a whole object or a byte range of it; ObjectNotFoundError when absent. */
  get(name: string, range?: ByteRange, opts?: GetOptions): Promise<Buffer>;
  /** Size of an object, or undefined when it does not exist. */
  head(name: string): Promise<ObjectInfo | undefined>;
  /** Every object whose name starts with `prefix` (e.g. `snapshots/`), in no particular order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; removing an absent object is not an error. */
  delete(name: string): Promise<void>;
  /**
   * How many large objects (packs) to write at once: each one in flight holds a pack in memory. A local
   * disk gains nothing from a second (one write plus the pack being filled keep it busy); an object
   * store gains from several connections. Absent means 1.
   */
  readonly writeParallelism?: number;
  /**
   * Starts an object written piece by piece, for a producer that learns its name only at the end (a
   * pack is named by the hash of its bytes) and should not hold it in memory. `folder` is where the name
   * will be (e.g. `data/`). Optional: a storage without it gets whole objects through put().
   */
  createWriter?(folder: string): Promise<ObjectWriter>;
  /**
   * Removes what interrupted writes left behind (a crash mid-put, a killed backup's unfinished pack):
   * temp files last modified before `olderThan`. Returns how many. Optional: object stores keep no
   * partial objects (an unfinished multipart upload is the bucket lifecycle's to abort).
   */
  sweepTemp?(olderThan: Date): Promise<number>;
}

/** An object being written piece by piece (Storage.createWriter); invisible until committed. */
export interface ObjectWriter {
  /** Appends parts in order; resolves once the caller may reuse them. */
  append(parts: readonly Uint8Array[]): Promise<void>;
  /**
   * Publishes everything appended under `name`, exactly as put() would; durable when it resolves. With
   * `size`, refuses (and drops the object) unless exactly that many bytes were appended.
   */
  commit(name: string, opts?: PutOptions & { readonly size?: number }): Promise<void>;
  /** Drops everything appended (a writer that failed or will not be committed). */
  abort(): Promise<void>;
}
