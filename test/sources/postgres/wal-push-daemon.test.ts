import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WalArchive } from '../../../lib/sources/postgres/wal-archive';
import { runDaemon } from '../../../lib/sources/postgres/wal-push-async';
import { makeTempRepo } from '../../support/repo';
import { makeTempDir } from '../../support/temp';
import { fakeSegment } from '../../support/wal-segments';

const SYSTEM_ID = '7300000000000000001';

/** The outcome markers in a spool (not its lock files and log). */
async function markers(spool: string): Promise<string[]> {
  return (await readdir(spool)).filter((f) => f.endsWith('.ok') || f.endsWith('.error')).sort();
}

/** The wal-push --async daemon on its own: what it pushes, what it reports, and that it always ends. */
describe('wal-push daemon', () => {
  async function walDirWith(
    names: string[],
  ): Promise<{ walDir: string; spool: string; data: Map<string, Buffer> }> {
    const walDir = await makeTempDir();
    await mkdir(join(walDir, 'archive_status'));
    const data = new Map<string, Buffer>();
    for (const name of names) {
      const bytes = fakeSegment(name, SYSTEM_ID);
      data.set(name, bytes);
      await writeFile(join(walDir, name), bytes);
      await writeFile(join(walDir, 'archive_status', `${name}.ready`), '');
    }
    return { walDir, spool: join(walDir, 'spool'), data };
  }

  it('pushes every ready segment, leaves an ok marker for each, and exits when idle', async () => {
    const { repo } = await makeTempRepo();
    const names = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000003'];
    const { walDir, spool, data } = await walDirWith(names);
    const pushed = await runDaemon(async () => repo, 'db', walDir, spool, { idleMs: 300 });
    expect(pushed).toBe(3);
    expect(await markers(spool)).toEqual(names.map((n) => `${n}.ok`));
    const archive = new WalArchive(repo, 'db');
    for (const name of names) expect((await archive.fetch(name))?.data.equals(data.get(name)!)).toBe(true);
  });

  it('a segment that keeps failing does not keep the daemon alive: it reports the error and exits', async () => {
    const { repo } = await makeTempRepo();
    const name = '0000000100000000000000F1';
    const { walDir, spool } = await walDirWith([name]);
    // The archive holds other content under this name: every push of it fails.
    await new WalArchive(repo, 'db').push(name, fakeSegment(name, SYSTEM_ID));
    const started = Date.now();
    await runDaemon(async () => repo, 'db', walDir, spool, { idleMs: 300 });
    expect(Date.now() - started).toBeLessThan(10_000);
    const error = await readFile(join(spool, `${name}.error`), 'utf8');
    expect(error).toContain('different content');
    // archive_command took the error; the next daemon tries once more, reports again and ends again.
    await rm(join(spool, `${name}.error`));
    await runDaemon(async () => repo, 'db', walDir, spool, { idleMs: 300 });
    expect(await markers(spool)).toEqual([`${name}.error`]);
  });
});
