import type { BlobId } from './ids';
import type { MasterIndex } from './index-file';

/** Slots of a new filter, at least (8 bytes each). */
const MIN_SLOTS = 1 << 16;
/** The filter stops growing here (128 MiB); past half of it, new blobs are no longer added (never wrong, only slower). */
const MAX_SLOTS = 1 << 24;
/** Words per slot: the first 64 bits of a blob id, as two int32 (the low word 0 marks an empty slot). */
const WORDS = 2;

/**
 * A set of blob-id fingerprints in shared memory, written by the main thread and read by worker threads
 * without locks: a worker that hashed a chunk asks whether the repository probably holds it already, and if
 * so does not compress, seal and send it. A backup that re-reads mostly known data (a database file with a
 * few pages changed, a forced backup, a copy of a folder) then costs hashing, not compression and
 * encryption.
 *
 * A hit is a hint, not proof: 64 bits of the id are compared, and a worker may see a slot half written.
 * The main thread checks every blob a file refers to against the index (BlobWriter.has) and reads the
 * file again, with nothing skipped, when one is missing; a miss only means work done twice.
 */
export class KnownBlobs {
  private slots: Int32Array<SharedArrayBuffer>;
  private count = 0;

  constructor(expected = 0) {
    this.slots = KnownBlobs.table(slotsFor(expected));
  }

  /** The blobs of `dataClass` that the index holds (deduplication stays inside a data class). */
  static fromIndex(index: MasterIndex, dataClass: string): KnownBlobs {
    const known = new KnownBlobs(index.size);
    for (const [id] of index.entries()) if (index.hasInClass(id, dataClass)) known.add(id);
    return known;
  }

  /** The shared memory to hand to workers (a new one after the filter grew: send it with each job). */
  get buffer(): SharedArrayBuffer {
    return this.slots.buffer;
  }

  /** Adds a blob id (main thread only). */
  add(id: BlobId | string): void {
    if (this.count * 2 >= this.slots.length / WORDS) {
      if (this.slots.length / WORDS >= MAX_SLOTS) return;
      this.grow();
    }
    if (KnownBlobs.insert(this.slots, wordsOf(id))) this.count++;
  }

  /** Whether the filter in `buffer` probably holds `id` (any thread). */
  static mayHold(buffer: SharedArrayBuffer, id: BlobId | string): boolean {
    const slots = new Int32Array(buffer);
    const [lo, hi] = wordsOf(id);
    const mask = slots.length / WORDS - 1;
    for (let at = hi & mask; ; at = (at + 1) & mask) {
      const l = Atomics.load(slots, at * WORDS);
      if (l === 0) return false;
      if (l === lo && Atomics.load(slots, at * WORDS + 1) === hi) return true;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = KnownBlobs.table((old.length / WORDS) * 2);
    for (let at = 0; at < old.length; at += WORDS)
      if (old[at] !== 0) KnownBlobs.insert(this.slots, [old[at]!, old[at + 1]!]);
  }

  private static table(slots: number): Int32Array<SharedArrayBuffer> {
    return new Int32Array(new SharedArrayBuffer(slots * WORDS * Int32Array.BYTES_PER_ELEMENT));
  }

  /** Linear probing from the high word; the low word goes in last, so a reader never sees it without the high. */
  private static insert(slots: Int32Array, [lo, hi]: readonly [number, number]): boolean {
    const mask = slots.length / WORDS - 1;
    for (let at = hi & mask; ; at = (at + 1) & mask) {
      const l = slots[at * WORDS];
      if (l === lo && slots[at * WORDS + 1] === hi) return false;
      if (l === 0) {
        Atomics.store(slots, at * WORDS + 1, hi);
        Atomics.store(slots, at * WORDS, lo);
        return true;
      }
    }
  }
}

/** The first 64 bits of a (hex) blob id as two int32 words; the low word is never 0 (the empty mark). */
function wordsOf(id: string): [number, number] {
  const lo = Number.parseInt(id.slice(0, 8), 16) | 0;
  const hi = Number.parseInt(id.slice(8, 16), 16) | 0;
  return [lo === 0 ? 1 : lo, hi];
}

function slotsFor(expected: number): number {
  let slots = MIN_SLOTS;
  while (slots < expected * 4 && slots < MAX_SLOTS) slots *= 2;
  return slots;
}
