import { isUint32Array } from 'node:util/types';
import {
  constants,
  createZstdCompress,
  createZstdDecompress,
  type ZstdCompress,
  type ZstdDecompress,
  zstdCompressSync,
  zstdDecompressSync,
} from 'node:zlib';

/** The synchronous half of Node's native zlib handle, which `zlib.*Sync` functions drive. */
interface NativeCodecHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
  reset(): void;
}

/**
 * A zstd compressor that keeps one native context for every blob and writes each frame into a buffer
 * the caller owns. `zstdCompressSync` creates a context per call (a quarter of a second per worker over
 * the benchmark's 900 chunks) and concatenates 16 KiB output pieces; this does neither.
 *
 * Node exposes no public API for it, so it drives the handle that `zstdCompressSync` itself drives
 * (`_handle.writeSync` and `_writeState`, stable since Node 10 for every zlib codec) — but only on the
 * Node majors in ZSTD_FAST_PATH_NODE_MAJORS, those the tests prove it on (live, and frames byte-identical
 * to zstdCompressSync's). Anywhere else (the functions' Node 22, a newer Node) `fast` is false and every
 * call uses `zstdCompressSync`: slower, never different bytes.
 */
export class ZstdEncoder {
  private engine!: ZstdCompress;
  private handle: NativeCodecHandle | undefined;
  private state: Uint32Array | undefined;
  private failure: Error | undefined;

  constructor(private readonly level: number) {
    this.renew();
  }

  /** Whether frames are written by the reused native context (not the per-call fallback). */
  get fast(): boolean {
    return this.handle !== undefined;
  }

  /** Bytes of output that always hold the frame of `length` input bytes (ZSTD_COMPRESSBOUND, plus a margin). */
  static bound(length: number): number {
    const SMALL = 128 * 1024;
    return length + (length >>> 8) + (length < SMALL ? (SMALL - length) >>> 11 : 0) + 64;
  }

  /**
   * Compresses `data` as one zstd frame into the start of `out`. Returns the frame's length, or -1 when
   * the frame does not fit in `out`; an `out` of bound(data.length) bytes always fits. Giving up costs a
   * new native context, so callers pass room enough and judge the frame's size afterwards.
   */
  compressInto(data: Uint8Array, out: Buffer): number {
    if (!this.handle || !this.state) {
      const frame = zstdCompressSync(data, { params: this.params() });
      if (frame.length >= out.length) return -1;
      frame.copy(out);
      return frame.length;
    }
    this.handle.writeSync(constants.ZSTD_e_end, data, 0, data.length, out, 0, out.length);
    if (this.engine.destroyed) throw this.failure ?? new Error('zstd compression failed');
    const [outLeft, inLeft] = this.state;
    // With ZSTD_e_end the frame is complete once input is consumed and output space remains; a full
    // output may hide unflushed bytes, so it counts as "does not fit".
    if (inLeft !== 0 || outLeft === 0) {
      // The context is mid-frame. Not handle.reset(): Node's reset makes a fresh context with zstd's
      // defaults, and every later frame came out at level 3 (40% slower) instead of the level asked for.
      this.renew();
      return -1;
    }
    return out.length - outLeft!;
  }

  /** Frees the native context. */
  close(): void {
    this.engine.close();
  }

  private renew(): void {
    this.engine?.close();
    this.engine = createZstdCompress({ params: this.params() });
    this.engine.on('error', (err: Error) => {
      this.failure = err;
    });
    const native = nativeOf(this.engine);
    this.handle = native?.handle;
    this.state = native?.state;
  }

  private params(): Record<number, number> {
    return zstdParams(this.level);
  }
}

/**
 * Writes one zstd frame into a buffer the caller owns from input given in parts (a file read through one
 * reused buffer), so that neither the whole input nor the frame's pieces need memory of their own. The
 * same native handle as ZstdEncoder on the Node majors the tests prove it on; elsewhere the parts are
 * copied and compressed at end() with zstdCompressSync (slower, more memory, the same content).
 */
export class ZstdFrameWriter {
  private readonly engine: ZstdCompress;
  private readonly native: { handle: NativeCodecHandle; state: Uint32Array } | undefined;
  private failure: Error | undefined;
  /** Bytes of `out` written so far; -1 once the frame no longer fits. */
  private written = 0;
  /** The fallback's copies of the parts. */
  private readonly parts: Buffer[] = [];

  constructor(
    private readonly level: number,
    private readonly out: Buffer,
  ) {
    this.engine = createZstdCompress({ params: zstdParams(level) });
    this.engine.on('error', (err: Error) => {
      this.failure = err;
    });
    this.native = nativeOf(this.engine);
  }

  /** Adds the next part of the input (which may be overwritten once this returns). */
  write(part: Uint8Array): void {
    if (this.written < 0) return;
    if (!this.native) this.parts.push(Buffer.from(part));
    else this.drive(constants.ZSTD_e_continue, part);
  }

  /** Ends the frame and frees the context: the frame's length, or -1 when it did not fit in `out`. */
  end(): number {
    try {
      if (this.written < 0) return -1;
      if (!this.native) {
        const frame = zstdCompressSync(Buffer.concat(this.parts), { params: zstdParams(this.level) });
        return frame.length < this.out.length ? frame.copy(this.out) : -1;
      }
      this.drive(constants.ZSTD_e_end, EMPTY);
      // With ZSTD_e_end the frame is complete once output space remains (as in ZstdEncoder).
      return this.written >= 0 && this.written < this.out.length ? this.written : -1;
    } finally {
      this.engine.close();
    }
  }

  private drive(flush: number, input: Uint8Array): void {
    const { handle, state } = this.native!;
    const room = this.out.length - this.written;
    handle.writeSync(flush, input, 0, input.length, this.out, this.written, room);
    if (this.engine.destroyed) throw this.failure ?? new Error('zstd compression failed');
    const [outLeft, inLeft] = state;
    // Input left over means the output is full: the frame does not fit.
    this.written = inLeft !== 0 ? -1 : this.out.length - outLeft!;
  }
}

const EMPTY = Buffer.alloc(0);

/** The compression parameters of every frame: the level asked for, no checksum (envelopes authenticate). */
function zstdParams(level: number): Record<number, number> {
  return { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 0 };
}

/**
 * A zstd decompressor that keeps one native context and writes into a caller's buffer, for restore and
 * check (the same internals and fallback as ZstdEncoder). A context that saw a damaged frame is
 * replaced, never reused.
 */
export class ZstdDecoder {
  private engine!: ZstdDecompress;
  private native: { handle: NativeCodecHandle; state: Uint32Array } | undefined;

  constructor() {
    this.renew();
  }

  get fast(): boolean {
    return this.native !== undefined;
  }

  /**
   * Decompresses one frame that must hold exactly `out.length` bytes into `out`; throws when it holds
   * more, less, or is not a valid frame.
   */
  decompressInto(frame: Uint8Array, out: Buffer): void {
    if (!this.native) {
      const plain = zstdDecompressSync(frame, { maxOutputLength: Math.max(out.length, 1) });
      if (plain.length !== out.length)
        throw new Error(`frame holds ${plain.length} bytes, not ${out.length}`);
      plain.copy(out);
      return;
    }
    const { handle, state } = this.native;
    handle.writeSync(constants.ZSTD_e_end, frame, 0, frame.length, out, 0, out.length);
    // A codec error destroys the stream synchronously (its 'error' event comes a tick later).
    if (this.engine.destroyed) {
      this.renew();
      throw new Error('not a valid zstd frame');
    }
    const [outLeft, inLeft] = state;
    if (inLeft !== 0 || outLeft !== 0) {
      this.renew();
      throw new Error(
        inLeft !== 0
          ? `frame holds more than ${out.length} bytes`
          : `frame holds ${out.length - outLeft!} bytes, not ${out.length}`,
      );
    }
  }

  /**
   * Decompresses one frame in parts of at most `part.length` bytes, each a view of `part` valid until the
   * next is asked for (a file written from one reused buffer). Throws past `limit` bytes or on a frame
   * that is not valid; a frame cut short just ends early, so callers check the length they got.
   */
  *decompressParts(frame: Uint8Array, part: Buffer, limit: number): Generator<Buffer> {
    if (!this.native) {
      yield zstdDecompressSync(frame, { maxOutputLength: Math.max(limit, 1) });
      return;
    }
    const { handle, state } = this.native;
    let total = 0;
    try {
      for (let inAt = 0; ; ) {
        handle.writeSync(constants.ZSTD_e_end, frame, inAt, frame.length - inAt, part, 0, part.length);
        if (this.engine.destroyed) throw new Error('not a valid zstd frame');
        const [outLeft, inLeft] = state;
        const produced = part.length - outLeft!;
        const progressed = produced > 0 || frame.length - inLeft! > inAt;
        inAt = frame.length - inLeft!;
        total += produced;
        if (total > limit) throw new Error(`frame holds more than ${limit} bytes`);
        if (produced > 0) yield part.subarray(0, produced);
        // Done once the input is used up and the output was not filled (nothing left inside).
        if ((inLeft === 0 && outLeft !== 0) || !progressed) return;
      }
    } finally {
      // The context may be mid-frame (a frame cut short, an error, a caller that stopped): never reuse it.
      this.renew();
    }
  }

  close(): void {
    this.engine.close();
  }

  private renew(): void {
    this.engine?.close();
    this.engine = createZstdDecompress();
    this.engine.on('error', () => {
      // Reported by decompressInto, which sees the stream destroyed at once.
    });
    this.native = nativeOf(this.engine);
  }
}

/**
 * The Node majors whose zlib internals test/repo/blob-codec.test.ts proves the fast path on: the Node the
 * executable carries and the tests run on. Add one only with that test passing on it. Measured on 300
 * chunks of 1 MiB (bench/zstd-context-bench.mjs): compressing 1.1-2x and decompressing 2-3x faster.
 */
export const ZSTD_FAST_PATH_NODE_MAJORS: readonly number[] = [24];

/** Whether the fast path may read zlib's internals on this Node version (process.versions.node). */
export function zstdFastPathAllowed(version: string = process.versions.node): boolean {
  return ZSTD_FAST_PATH_NODE_MAJORS.includes(Number(version.split('.')[0]));
}

/** The native handle behind a zlib stream object, on a Node where the tests prove it (see above). */
function nativeOf(engine: object): { handle: NativeCodecHandle; state: Uint32Array } | undefined {
  if (!zstdFastPathAllowed()) return undefined;
  const internals = engine as { _handle?: NativeCodecHandle; _writeState?: unknown };
  const usable =
    typeof internals._handle?.writeSync === 'function' &&
    typeof internals._handle.reset === 'function' &&
    isUint32Array(internals._writeState) && // not instanceof: the handle's realm may differ from ours
    internals._writeState.length === 2;
  return usable ? { handle: internals._handle!, state: internals._writeState as Uint32Array } : undefined;
}
