import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import type { BlobWriter } from '../../repo/blob-writer';
import { chunkStream, type ReadFn } from '../../repo/chunk-stream';
import type { Chunker } from '../../repo/chunker';
import type { BlobId } from '../../repo/ids';
import { BlobType } from '../../repo/pack';
import type { TreeBuilder } from '../tree-builder';

/** What one archive held. */
export interface IngestResult {
  files: number;
  bytes: number;
  /** Contents of the members named in `capture` (backup_label, tablespace_map). */
  captured: Map<string, Buffer>;
}

export interface IngestOptions {
  writer: BlobWriter;
  chunker: Chunker;
  builder: TreeBuilder;
  /** Path components every member goes under (e.g. base, or tablespaces/16385). */
  prefix: readonly string[];
  capture?: ReadonlySet<string>;
  onBytes?: (n: number) => void;
}

/** Members of a captured name are kept in memory up to this size (backup_label and tablespace_map are tiny). */
const CAPTURE_MAX_BYTES = 1024 * 1024;

/**
 * Stores a tar stream (an archive of pg_basebackup) member by member: each regular file's bytes go through
 * the chunker to the blob writer as they arrive, and its node (mode, owner, mtime, size) into the tree
 * builder, so the snapshot holds the files themselves and a restore writes a data directory.
 */
export async function ingestTar(stream: Readable, opts: IngestOptions): Promise<IngestResult> {
  const result: IngestResult = { files: 0, bytes: 0, captured: new Map() };
  const ex = extract({ filenameEncoding: 'latin1' });
  stream.on('error', (err) => ex.destroy(err));
  stream.pipe(ex);
  for await (const entry of ex) {
    const h = entry.header;
    const parts = h.name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new Error(`archive member ${h.name} would leave its folder`);
    const path = [...opts.prefix, ...parts].map((p) => Buffer.from(p, 'latin1'));
    const meta = {
      mode: (h.mode ?? 0o600) & 0o7777,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtimeNs: String(BigInt((h.mtime ?? new Date(0)).getTime()) * 1_000_000n),
      inode: '0',
      device: '0',
      links: 1,
    };
    const ns = { ctimeNs: meta.mtimeNs };
    if (h.type === 'directory') {
      opts.builder.addFolder(path, { ...meta, ...ns, size: 0 });
      entry.resume();
      continue;
    }
    if (h.type === 'symlink') {
      opts.builder.add(path, { ...meta, ...ns, type: 'symlink', size: 0, linkTarget: h.linkname ?? '' });
      entry.resume();
      continue;
    }
    if (h.type !== 'file' && h.type !== 'contiguous-file')
      throw new Error(`archive member ${h.name} is a ${h.type}, which a base backup does not hold`);
    const keep: Buffer[] | undefined = opts.capture?.has(h.name) ? [] : undefined;
    const content: BlobId[] = [];
    let size = 0;
    for await (const chunk of chunkStream(streamReader(entry), opts.chunker, h.size)) {
      size += chunk.length;
      opts.onBytes?.(chunk.length);
      if (keep && size <= CAPTURE_MAX_BYTES) keep.push(chunk);
      content.push(await opts.writer.save(BlobType.Data, chunk));
    }
    if (size !== (h.size ?? 0))
      throw new Error(`archive member ${h.name} ended after ${size} of ${h.size} bytes`);
    if (keep) result.captured.set(h.name, Buffer.concat(keep));
    opts.builder.add(path, { ...meta, ...ns, type: 'file', size, content });
    result.files++;
    result.bytes += size;
  }
  return result;
}

/** Stores one whole stream as a file (the backup manifest); returns its bytes too. */
export async function ingestFile(
  stream: Readable,
  path: readonly string[],
  opts: Omit<IngestOptions, 'prefix' | 'capture'>,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  const content: BlobId[] = [];
  let size = 0;
  for await (const chunk of chunkStream(streamReader(stream), opts.chunker)) {
    parts.push(chunk);
    size += chunk.length;
    opts.onBytes?.(chunk.length);
    content.push(await opts.writer.save(BlobType.Data, chunk));
  }
  const now = String(BigInt(Date.now()) * 1_000_000n);
  opts.builder.add(
    path.map((p) => Buffer.from(p)),
    {
      type: 'file',
      mode: 0o600,
      uid: 0,
      gid: 0,
      mtimeNs: now,
      ctimeNs: now,
      inode: '0',
      device: '0',
      links: 1,
      size,
      content,
    },
  );
  return Buffer.concat(parts);
}

/** A pull reader over a Node stream, for chunkStream. */
export function streamReader(stream: Readable): ReadFn {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer | undefined;
  return async (buf, offset, length) => {
    while (!pending || pending.length === 0) {
      const next = await it.next();
      if (next.done) return 0;
      pending = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
    const n = Math.min(length, pending.length);
    pending.copy(buf, offset, 0, n);
    pending = pending.subarray(n);
    return n;
  };
}
