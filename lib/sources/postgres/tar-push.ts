import { IntegrityError } from '../../repo/errors';

/** One archive member's header. */
export interface TarHeader {
  name: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  linkname: string;
}

/** What a member parser tells its consumer. */
export interface TarSink {
  begin(header: TarHeader): void;
  /** Member bytes (a view, valid only during the call). */
  data(bytes: Uint8Array): void;
  end(): void;
}

const BLOCK = 512;

/**
 * A tar parser for data pushed in pieces of any size (pg_basebackup's archives: ustar, as PostgreSQL writes
 * them, with pax and GNU long-name records understood too). Member data reaches the sink as views of what
 * was pushed: no copy, no stream machinery.
 */
export class TarPushParser {
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;
  private ended = false;
  private zeroBlocks = 0;
  /** A pax or GNU long-name record being read, and what it sets for the next member. */
  private meta: { kind: 'x' | 'L' | 'K'; parts: Buffer[]; left: number } | undefined;
  private next: { path?: string; linkpath?: string; size?: number } = {};

  constructor(
    private readonly archive: string,
    private readonly sink: TarSink,
  ) {}

  push(data: Uint8Array): void {
    let at = 0;
    while (at < data.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length - at);
        const piece = data.subarray(at, at + n);
        if (this.meta) this.meta.parts.push(Buffer.from(piece));
        else this.sink.data(piece);
        this.remaining -= n;
        at += n;
        if (this.remaining === 0) this.finishMember();
        continue;
      }
      if (this.padding > 0) {
        const n = Math.min(this.padding, data.length - at);
        this.padding -= n;
        at += n;
        continue;
      }
      if (this.ended) {
        at = data.length; // zero blocks after the end marker
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, data.length - at);
      this.header.set(data.subarray(at, at + n), this.headerFill);
      this.headerFill += n;
      at += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.onHeader();
      }
    }
  }

  /** The archive's stream ended: it must have ended at a member boundary. */
  finish(): void {
    if (this.remaining > 0 || this.headerFill > 0)
      throw new IntegrityError(this.archive, 'the archive ended in the middle of a member');
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((b) => b === 0)) {
      if (++this.zeroBlocks === 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumOk(h)) throw new IntegrityError(this.archive, 'a tar header fails its checksum');
    const flag = String.fromCharCode(h[156]!);
    const size = this.next.size ?? readNumber(h, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      this.meta = { kind: flag === 'g' ? 'x' : flag, parts: [], left: size };
      this.remaining = size;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (size === 0) this.finishMember();
      return;
    }
    const type =
      flag === '0' || flag === '\0' || flag === '7'
        ? 'file'
        : flag === '5'
          ? 'directory'
          : flag === '2'
            ? 'symlink'
            : undefined;
    if (!type)
      throw new IntegrityError(
        this.archive,
        `member type "${flag}" (not a file, folder or symlink) in a base backup`,
      );
    const prefix = h[257] === 0x75 /* ustar */ ? cString(h, 345, 155) : '';
    const name = this.next.path ?? (prefix ? `${prefix}/${cString(h, 0, 100)}` : cString(h, 0, 100));
    const header: TarHeader = {
      name,
      type,
      mode: readNumber(h, 100, 8),
      uid: readNumber(h, 108, 8),
      gid: readNumber(h, 116, 8),
      size: type === 'file' ? size : 0,
      mtimeMs: readNumber(h, 136, 12) * 1000,
      linkname: this.next.linkpath ?? cString(h, 157, 100),
    };
    this.next = {};
    this.sink.begin(header);
    this.remaining = header.size;
    this.padding = (BLOCK - (header.size % BLOCK)) % BLOCK;
    if (header.size === 0) this.sink.end();
  }

  private finishMember(): void {
    const meta = this.meta;
    if (!meta) {
      this.sink.end();
      return;
    }
    this.meta = undefined;
    const text = Buffer.concat(meta.parts).toString('latin1');
    if (meta.kind === 'L') this.next.path = text.replace(/\0+$/, '');
    else if (meta.kind === 'K') this.next.linkpath = text.replace(/\0+$/, '');
    else
      for (const record of parsePax(text)) {
        if (record.key === 'path') this.next.path = record.value;
        if (record.key === 'linkpath') this.next.linkpath = record.value;
        if (record.key === 'size') this.next.size = Number(record.value);
      }
  }
}

/** pax records: "<length> <key>=<value>\n". */
function parsePax(text: string): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = [];
  let at = 0;
  while (at < text.length) {
    const space = text.indexOf(' ', at);
    const length = Number(text.slice(at, space));
    if (!(length > 0) || space < 0) break;
    const record = text.slice(space + 1, at + length - 1);
    const eq = record.indexOf('=');
    out.push({ key: record.slice(0, eq), value: record.slice(eq + 1) });
    at += length;
  }
  return out;
}

function cString(h: Buffer, at: number, length: number): string {
  const end = h.indexOf(0, at);
  return h.toString('latin1', at, end < 0 || end > at + length ? at + length : end);
}

/** An octal number field, or GNU base-256 (high bit set) for large values. */
function readNumber(h: Buffer, at: number, length: number): number {
  if (h[at]! & 0x80) {
    let n = 0;
    for (let i = at + 1; i < at + length; i++) n = n * 256 + h[i]!;
    return n;
  }
  const text = cString(h, at, length).trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === readNumber(h, 148, 8);
}
