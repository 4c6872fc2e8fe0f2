import type { BlobId } from '../../repo/ids';
import type { TreeBuilder } from '../tree-builder';
import type { StreamSeal, WindowSealer } from '../window-sealer';
import type { ArchiveConsumer } from './base-backup-stream';
import { type TarHeader, TarPushParser } from './tar-push';

/** What one archive held. */
export interface IngestResult {
  files: number;
  bytes: number;
  /** Contents of the members named in `capture` (backup_label, tablespace_map). */
  captured: Map<string, Buffer>;
}

export interface IngestOptions {
  sealer: WindowSealer;
  builder: TreeBuilder;
  /** Path components every member goes under (e.g. base, or tablespaces/16385). */
  prefix: readonly string[];
  capture?: ReadonlySet<string>;
  onBytes?: (n: number) => void;
}

/** Members of a captured name are kept in memory up to this size (backup_label and tablespace_map are tiny). */
const CAPTURE_MAX_BYTES = 1024 * 1024;

/**
 * Stores one tar archive of a base backup as it arrives: the tar parser hands each member's bytes (views of
 * the socket's buffer) to the window sealer, which has them chunked and sealed, and the member's node (mode, owner,
 * mtime, size, content) to the tree builder once its blobs are known. The snapshot holds the files
 * themselves, and a restore writes a data directory.
 */
export class TarIngest implements ArchiveConsumer {
  private readonly parser: TarPushParser;
  private readonly result: IngestResult = { files: 0, bytes: 0, captured: new Map() };
  private readonly pending: Promise<void>[] = [];
  private member:
    | { header: TarHeader; path: Buffer[]; seal: StreamSeal; keep?: Buffer[]; size: number }
    | undefined;

  constructor(
    archive: string,
    private readonly opts: IngestOptions,
  ) {
    this.parser = new TarPushParser(archive, {
      begin: (h) => this.begin(h),
      data: (bytes) => this.memberData(bytes),
      end: () => this.endMember(),
    });
  }

  data(bytes: Buffer): Promise<void> | undefined {
    this.parser.push(bytes);
    return this.opts.sealer.pressure();
  }

  end(): void {
    this.parser.finish();
    this.opts.sealer.flush();
  }

  /** Resolves once every member's blobs are stored and its node is in the tree builder. */
  async done(): Promise<IngestResult> {
    await Promise.all(this.pending);
    return this.result;
  }

  private begin(h: TarHeader): void {
    const parts = h.name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) throw new Error(`archive member ${h.name} would leave its folder`);
    const path = [...this.opts.prefix, ...parts].map((p) => Buffer.from(p, 'latin1'));
    const mtimeNs = String(BigInt(h.mtimeMs) * 1_000_000n);
    const meta = {
      mode: h.mode & 0o7777,
      uid: h.uid,
      gid: h.gid,
      mtimeNs,
      ctimeNs: mtimeNs,
      inode: '0',
      device: '0',
      links: 1,
    };
    if (h.type === 'directory') {
      this.opts.builder.addFolder(path, { ...meta, size: 0 });
      return;
    }
    if (h.type === 'symlink') {
      this.opts.builder.add(path, { ...meta, type: 'symlink', size: 0, linkTarget: h.linkname });
      return;
    }
    const keep = this.opts.capture?.has(h.name) && h.size <= CAPTURE_MAX_BYTES ? [] : undefined;
    this.member = {
      header: h,
      path,
      seal: this.opts.sealer.begin(h.size),
      size: 0,
      ...(keep ? { keep } : {}),
    };
  }

  private memberData(bytes: Uint8Array): void {
    const m = this.member;
    if (!m) return; // a folder's or symlink's (empty) data
    m.size += bytes.length;
    this.opts.onBytes?.(bytes.length);
    m.keep?.push(Buffer.from(bytes));
    m.seal.add(bytes);
  }

  private endMember(): void {
    const m = this.member;
    if (!m) return;
    this.member = undefined;
    if (m.keep) this.result.captured.set(m.header.name, Buffer.concat(m.keep));
    this.result.files++;
    this.result.bytes += m.size;
    const meta = { mode: m.header.mode & 0o7777, uid: m.header.uid, gid: m.header.gid };
    const mtimeNs = String(BigInt(m.header.mtimeMs) * 1_000_000n);
    const size = m.size;
    this.pending.push(
      m.seal.finish().then((content: BlobId[]) =>
        this.opts.builder.add(m.path, {
          ...meta,
          type: 'file',
          mtimeNs,
          ctimeNs: mtimeNs,
          inode: '0',
          device: '0',
          links: 1,
          size,
          content,
        }),
      ),
    );
  }
}

/** Stores one archive that is a single file (the backup manifest), keeping its bytes for the caller. */
export class FileIngest implements ArchiveConsumer {
  private readonly parts: Buffer[] = [];
  private finished: Promise<Buffer> | undefined;

  constructor(
    private readonly path: readonly string[],
    private readonly opts: Omit<IngestOptions, 'prefix' | 'capture'>,
  ) {}

  data(bytes: Buffer): undefined {
    this.parts.push(Buffer.from(bytes));
    this.opts.onBytes?.(bytes.length);
    return undefined;
  }

  end(): void {
    const whole = Buffer.concat(this.parts);
    const seal = this.opts.sealer.begin(whole.length);
    seal.add(whole);
    this.opts.sealer.flush();
    this.finished = seal.finish().then((content) => {
      const now = String(BigInt(Date.now()) * 1_000_000n);
      this.opts.builder.add(
        this.path.map((p) => Buffer.from(p)),
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
          size: whole.length,
          content,
        },
      );
      return whole;
    });
  }

  /** The file's bytes, once stored. */
  done(): Promise<Buffer> {
    if (!this.finished) return Promise.reject(new Error(`${this.path.join('/')} ended before it began`));
    return this.finished;
  }
}
