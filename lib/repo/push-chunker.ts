import { chunkBufferBytes } from './chunk-stream';
import { type Chunker, type CutState, newCutState } from './chunker';

/**
 * Content-defined chunking for data that arrives in pieces pushed by its producer (a socket), with the
 * same boundaries as chunkStream and Chunker.split. Each byte is scanned once (Chunker.cutGrowing keeps the
 * scan's place between pieces), and only the open chunk is ever moved in the buffer. Chunks are views into
 * one buffer, valid only during the `emit` call.
 */
export class PushChunker {
  private readonly buf: Buffer;
  private start = 0;
  private filled = 0;
  private state: CutState = newCutState();

  constructor(private readonly chunker: Chunker) {
    this.buf = Buffer.allocUnsafeSlow(chunkBufferBytes(chunker));
  }

  /** Takes `data` (copied in); emits every chunk whose boundary is final. */
  push(data: Uint8Array, emit: (chunk: Buffer) => void): void {
    let at = 0;
    while (at < data.length) {
      if (this.filled === this.buf.length) this.compact();
      const n = Math.min(data.length - at, this.buf.length - this.filled);
      this.buf.set(data.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      this.cut(emit, false);
    }
  }

  /** The data ended: emits what is left, as chunks. */
  end(emit: (chunk: Buffer) => void): void {
    this.cut(emit, true);
    this.start = 0;
    this.filled = 0;
    this.state = newCutState();
  }

  private cut(emit: (chunk: Buffer) => void, ended: boolean): void {
    while (this.filled > this.start) {
      const n = this.chunker.cutGrowing(this.buf, this.start, this.filled, this.state, ended);
      if (n < 0) return;
      emit(this.buf.subarray(this.start, this.start + n));
      this.start += n;
      this.state = newCutState();
    }
  }

  /** Moves the open chunk (at most one maximum chunk) to the front of the buffer. */
  private compact(): void {
    const shift = this.start;
    this.buf.copyWithin(0, this.start, this.filled);
    this.filled -= shift;
    this.start = 0;
    if (this.state.pos >= 0) this.state.pos -= shift;
  }
}
