import type { Io } from './io';
import { printJson } from './io';

/**
 * Least time between two status lines of `backup --json`: a reader that shows them (a dashboard, a log)
 * sees the backup move, and a backup of millions of small files does not print millions of lines.
 */
export const JSON_STATUS_INTERVAL_MS = 1000;

/** Figures a status line reports. */
export interface StatusFigures {
  files: number;
  dirs: number;
  /** Bytes of source files processed so far (read, or taken from the parent unread). */
  bytes: number;
  /** The expected total of `bytes` (the parent snapshot's), when there is one. */
  totalBytes?: number;
}

/**
 * The status lines of a `--json` run on stdout, restic's `status` messages: `{"messageType":"status",
 * "secondsElapsed", "filesDone", "dirsDone", "bytesDone", "totalBytes", "percentDone"}`, the last two
 * only when a total is known. The first update prints at once, later ones at most once per
 * JSON_STATUS_INTERVAL_MS; `done` prints the final figures, so even a short run has one status line.
 */
export class JsonStatus {
  private lastAt: number | undefined;
  private latest: StatusFigures | undefined;
  private readonly started: number;

  constructor(
    private readonly io: Io,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = JSON_STATUS_INTERVAL_MS,
  ) {
    this.started = now();
  }

  /** Takes new figures; prints them if the last line is old enough. */
  update(figures: StatusFigures): void {
    this.latest = { ...figures };
    const at = this.now();
    if (this.lastAt !== undefined && at - this.lastAt < this.intervalMs) return;
    this.print(at, false);
  }

  /** Prints the final figures (100 percent when a total was known). */
  done(): void {
    if (this.latest) this.print(this.now(), true);
  }

  private print(at: number, final: boolean): void {
    const f = this.latest!;
    this.lastAt = at;
    const total = f.totalBytes;
    printJson(this.io, {
      messageType: 'status',
      secondsElapsed: Math.round((at - this.started) / 1000),
      filesDone: f.files,
      dirsDone: f.dirs,
      bytesDone: f.bytes,
      ...(total !== undefined && total > 0
        ? {
            totalBytes: total,
            // The parent's size is an estimate: the tree may have grown, so the share stops short of
            // 100 until the backup is done.
            percentDone: final ? 100 : Math.min(99.9, Math.floor((f.bytes / total) * 1000) / 10),
          }
        : {}),
    });
  }
}
