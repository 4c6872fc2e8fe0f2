/**
 * Buffers for ranged reads that travel to a worker thread and come back with its result, so a restore or
 * check reads hundreds of megabytes through a handful of buffers. Fresh memory per read cost page faults
 * and zeroing in the kernel for every byte read (and, on virtual machines that hand free memory back to
 * the host, a fault in the hypervisor as well).
 */
export class ReadBuffers {
  private readonly spare: Buffer[] = [];

  constructor(
    /** Size of each buffer; a longer read gets memory of its own. */
    readonly bufferBytes: number,
    /** Spare buffers kept at most (the rest are let go). */
    private readonly keep: number,
  ) {}

  /** A buffer for a read of `length` bytes, or undefined when that is longer than the buffers. */
  take(length: number): Buffer | undefined {
    if (length > this.bufferBytes) return undefined;
    // allocUnsafeSlow: the buffer owns its whole ArrayBuffer, so transferring it moves nothing else.
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  /** Takes a buffer back (one that take() gave, returned by a worker). */
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === this.bufferBytes && this.spare.length < this.keep)
      this.spare.push(Buffer.from(buffer));
  }
}
