import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Io } from '../../lib/cli/io';
import { JSON_STATUS_INTERVAL_MS, JsonStatus } from '../../lib/cli/json-status';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

type Line = Record<string, unknown>;

/** Every stdout line of a --json run parsed: a line that is not JSON fails the test. */
function parseLines(stdout: string): Line[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

describe('backup --json prints status lines while it runs, then the summary', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  const backup = () => runCli(['--repo', repo, 'backup', src, '--source', 'many', '--json']);

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    // Many folders: the archiver reports progress after each, far more often than a status line is due.
    for (let d = 0; d < 200; d++) {
      const dir = join(src, `d${d}`);
      await mkdir(dir, { recursive: true });
      for (let f = 0; f < 5; f++) await writeFile(join(dir, `f${f}`), `${d}/${f} `.repeat(200 + d));
    }
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
  });

  it('a first backup: status lines with files and bytes (no total, so no percent), the summary last', async () => {
    const started = Date.now();
    const r = await backup();
    const ms = Date.now() - started;
    expect(r.code).toBe(0);
    const lines = parseLines(r.stdout);
    const summary = lines.at(-1)!;
    expect(summary.messageType).toBe('summary');
    const status = lines.slice(0, -1);
    expect(status.length).toBeGreaterThanOrEqual(1);
    for (const s of status) {
      expect(s).toMatchObject({ messageType: 'status' });
      for (const k of ['secondsElapsed', 'filesDone', 'dirsDone', 'bytesDone'])
        expect(typeof s[k]).toBe('number');
      expect(s).not.toHaveProperty('percentDone');
      expect(s).not.toHaveProperty('totalBytes');
    }
    // At a bounded rate: about one a second, plus the first and the final one.
    expect(status.length).toBeLessThanOrEqual(Math.ceil(ms / JSON_STATUS_INTERVAL_MS) + 2);
    const files = status.map((s) => s.filesDone as number);
    expect(files).toEqual([...files].sort((a, b) => a - b));
    expect(status.at(-1)).toMatchObject({ filesDone: 1000, bytesDone: summary.bytesProcessed });
  });

  it('with a parent the total is known: percent from 0 to 100, 100 in the final status line', async () => {
    const r = await backup();
    expect(r.code).toBe(0);
    const lines = parseLines(r.stdout);
    expect(lines.at(-1)!.messageType).toBe('summary');
    const status = lines.slice(0, -1);
    expect(status.length).toBeGreaterThanOrEqual(1);
    for (const s of status) {
      expect(s.messageType).toBe('status');
      expect(s.totalBytes).toBe(lines.at(-1)!.bytesProcessed);
      expect(s.percentDone as number).toBeGreaterThanOrEqual(0);
      expect(s.percentDone as number).toBeLessThanOrEqual(100);
    }
    expect(status.at(-1)!.percentDone).toBe(100);
  });
});

describe('JsonStatus, on a clock the test moves', () => {
  function capture(): { io: Io; lines: () => Line[] } {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) } } as unknown as Io;
    return { io, lines: () => parseLines(out) };
  }

  it('prints the first update at once, then at most one per interval, and the final figures on done', () => {
    let now = 0;
    const { io, lines } = capture();
    const status = new JsonStatus(io, () => now, 1000);
    status.update({ files: 1, dirs: 0, bytes: 10, totalBytes: 1000 });
    for (let i = 2; i <= 50; i++) {
      now += 10;
      status.update({ files: i, dirs: 0, bytes: i * 10, totalBytes: 1000 });
    }
    expect(lines()).toHaveLength(1);
    now = 1000;
    status.update({ files: 60, dirs: 1, bytes: 600, totalBytes: 1000 });
    now = 1100;
    status.update({ files: 61, dirs: 1, bytes: 1200, totalBytes: 1000 });
    status.done();
    expect(lines()).toEqual([
      {
        messageType: 'status',
        secondsElapsed: 0,
        filesDone: 1,
        dirsDone: 0,
        bytesDone: 10,
        totalBytes: 1000,
        percentDone: 1,
      },
      {
        messageType: 'status',
        secondsElapsed: 1,
        filesDone: 60,
        dirsDone: 1,
        bytesDone: 600,
        totalBytes: 1000,
        percentDone: 60,
      },
      {
        messageType: 'status',
        secondsElapsed: 1,
        filesDone: 61,
        dirsDone: 1,
        bytesDone: 1200,
        totalBytes: 1000,
        percentDone: 100,
      },
    ]);
  });

  it('an estimate the backup outgrows stays below 100 until done; without a total there is no percent', () => {
    const { io, lines } = capture();
    const status = new JsonStatus(io, () => 0, 1000);
    status.update({ files: 5, dirs: 1, bytes: 5000, totalBytes: 1000 });
    expect(lines()[0]!.percentDone).toBe(99.9);
    const other = capture();
    const plain = new JsonStatus(other.io, () => 0, 1000);
    plain.update({ files: 5, dirs: 1, bytes: 5000 });
    plain.done();
    expect(other.lines()).toHaveLength(2);
    for (const l of other.lines()) expect(l).not.toHaveProperty('percentDone');
  });

  it('done without any update prints nothing', () => {
    const { io, lines } = capture();
    new JsonStatus(io, () => 0).done();
    expect(lines()).toEqual([]);
  });
});
