// What lib/repo/zstd-native.ts's fast path (one native zstd context reused for every blob, driven through
// zlib's internal handle) buys over Node's public one-shot functions, on the same chunks in one process:
//
//   npm run bench:zstd                 (BENCH_ZSTD_CHUNKS=300 chunks of 1 MiB, 3 rounds)
//
// Prints a table; the figures back the choice recorded at ZSTD_FAST_PATH_NODE_MAJORS.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
const CHUNKS = Number(process.env.BENCH_ZSTD_CHUNKS ?? 300);
const ROUNDS = 3;
const MiB = 1024 * 1024;

const work = mkdtempSync(path.join(os.tmpdir(), 'zapas-zstd-bench-'));
const out = path.join(work, 'zstd-native.cjs');
await build({
  entryPoints: [path.join(ROOT, 'lib', 'repo', 'zstd-native.ts')],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  logLevel: 'warning',
});
const { ZstdDecoder, ZstdEncoder } = await import(out);
const { constants, zstdCompressSync, zstdDecompressSync } = await import('node:zlib');
const { randomBytes } = await import('node:crypto');

// Like database pages and logs: a third random bytes, the rest from a small alphabet (about 2-3x smaller).
const chunks = [];
for (let i = 0; i < CHUNKS; i++) {
  const b = randomBytes(MiB);
  for (let j = 0; j < MiB; j++) if ((j >> 6) % 3 !== 0) b[j] = 0x41 + (b[j] & 7);
  chunks.push(b);
}
const params = { [constants.ZSTD_c_compressionLevel]: 1, [constants.ZSTD_c_checksumFlag]: 0 };
/** Milliseconds to run `step` on every item. */
const ms = (items, step) => {
  const t = process.hrtime.bigint();
  for (const item of items) step(item);
  return Number(process.hrtime.bigint() - t) / 1e6;
};
const encoder = new ZstdEncoder(1);
const decoder = new ZstdDecoder();
if (!encoder.fast || !decoder.fast) throw new Error(`the fast path is off on Node ${process.version}`);
const room = Buffer.alloc(ZstdEncoder.bound(MiB));
const plain = Buffer.alloc(MiB);
const frames = chunks.map((c) => zstdCompressSync(c, { params }));
const rows = [];
for (let r = 0; r < ROUNDS; r++)
  rows.push({
    compressFast: ms(chunks, (c) => encoder.compressInto(c, room)),
    compressPublic: ms(chunks, (c) => zstdCompressSync(c, { params })),
    decompressFast: ms(frames, (f) => decoder.decompressInto(f, plain)),
    decompressPublic: ms(frames, (f) => zstdDecompressSync(f, { maxOutputLength: MiB })),
  });
rmSync(work, { recursive: true, force: true });
const median = (k) => rows.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(ROUNDS / 2)];
const line = (what, fast, pub) =>
  `| ${what} | ${median(fast).toFixed(0)} | ${median(pub).toFixed(0)} | ${(median(pub) / median(fast)).toFixed(2)}x |`;
process.stdout.write(
  [
    `zstd level 1, ${CHUNKS} chunks of 1 MiB, Node ${process.version}, median of ${ROUNDS} rounds (ms):`,
    '',
    '| step | reused context (fast path) | zstdCompressSync / zstdDecompressSync | public / fast |',
    '|---|---:|---:|---:|',
    line('compress', 'compressFast', 'compressPublic'),
    line('decompress', 'decompressFast', 'decompressPublic'),
    '',
  ].join('\n'),
);
