import type { VerbContext } from './context';
import { showProgress } from './context';
import { formatBytes, formatDuration } from './format';

/** Redraw at most this often. */
const REDRAW_MS = 250;

/** A one-line progress display on stderr: files, bytes, rate and, when the total is known, ETA. */
export class ProgressLine {
  private last = 0;
  private readonly started = Date.now();
  private readonly enabled: boolean;
  private drawn = false;

  constructor(
    private readonly ctx: VerbContext,
    private readonly verb: string,
  ) {
    this.enabled = showProgress(ctx);
  }

  /** Updates the line; `totalBytes` enables the ETA. */
  update(files: number, bytes: number, totalBytes?: number, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!force && now - this.last < REDRAW_MS) return;
    this.last = now;
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? bytes / elapsed : 0;
    let eta = '';
    if (totalBytes && rate > 0 && totalBytes > bytes)
      eta = `, ETA ${formatDuration(((totalBytes - bytes) / rate) * 1000)}`;
    const total = totalBytes ? ` / ${formatBytes(totalBytes)}` : '';
    const line = `[${formatDuration(now - this.started)}] ${this.verb}: ${files} files, ${formatBytes(bytes)}${total}, ${formatBytes(rate)}/s${eta}`;
    this.ctx.io.stderr.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  /** Clears the line before the final report. */
  done(): void {
    if (this.drawn) this.ctx.io.stderr.write('\r\x1b[K');
  }
}
