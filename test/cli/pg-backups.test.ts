import { WalArchive } from '../../lib/sources/postgres/wal-archive';
import { segmentName } from '../../lib/sources/postgres/wal-names';
import { jsonLines, runCli } from '../support/cli';
import { baseBackupInfo, saveBaseBackup } from '../support/pg-snapshots';
import { makeTempRepo } from '../support/repo';
import { fakeSegment } from '../support/wal-segments';

const SEGMENT_FILE_BYTES = 64 * 1024;

/** `zapas pg backups` on a repository with two base backups and their archived WAL. */
describe('zapas pg backups', () => {
  async function repoWithBackups() {
    const { repo, dir } = await makeTempRepo();
    const base = [{ name: 'base', type: 'dir' as const, children: [] }];
    await saveBaseBackup(repo, 'shop', base, baseBackupInfo({ stopTime: '2026-12-01T10:00:01.000Z' }), {
      bytesProcessed: 3 * 1024 * 1024 * 1024,
      bytesAdded: 2 * 1024 * 1024 * 1024,
      durationMs: 95_000,
    });
    await saveBaseBackup(
      repo,
      'shop',
      base,
      baseBackupInfo({
        type: 'incr',
        serverVersion: 160004,
        startLsn: '0/4000028',
        stopLsn: '0/4000100',
        startWal: '000000010000000000000004',
        stopWal: '000000010000000000000004',
        stopTime: '2026-12-02T10:00:01.000Z',
      }),
      { bytesProcessed: 3 * 1024 * 1024 * 1024, bytesAdded: 5 * 1024 * 1024, durationMs: 7_000 },
    );
    const archive = new WalArchive(repo, 'shop');
    for (let n = 2n; n <= 5n; n++) {
      const name = segmentName(1, n);
      await archive.push(name, fakeSegment(name, baseBackupInfo().systemId, { bytes: SEGMENT_FILE_BYTES }));
    }
    return dir;
  }

  it('shows each backup on its own line with size, what it added, duration and server version', async () => {
    const dir = await repoWithBackups();
    const r = await runCli(['--repo', dir, 'pg', 'backups', '--source', 'shop']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.at(-1)).toBe(''); // every line ends
    expect(lines[0]).toMatch(/^id +ended +type +timeline +server +size +added +took +LSN range +restorable$/);
    expect(lines[1]).toMatch(
      /^[0-9a-f]{8} +2026-12-01 10:00:01Z +full +1 +15\.10 +3\.00 GiB +2\.00 GiB +1:35 +0\/2000028–0\/2000100 +to 000000010000000000000005$/,
    );
    expect(lines[2]).toMatch(
      /^[0-9a-f]{8} +2026-12-02 10:00:01Z +incr +1 +16\.4 +3\.00 GiB +5\.00 MiB +0:07 /,
    );
    expect(lines[3]).toMatch(
      /^WAL timeline 1: 000000010000000000000002 … 000000010000000000000005 \(4 segments, [\d.]+ KiB stored\)$/,
    );
    expect(lines).toHaveLength(5);
  });

  it('--json gives the same figures', async () => {
    const dir = await repoWithBackups();
    const r = await runCli(['--repo', dir, 'pg', 'backups', '--source', 'shop', '--json']);
    const backups = jsonLines(r.stdout).filter((l) => l.messageType === 'backup');
    expect(backups.map((b) => [b.serverVersion, b.bytes, b.bytesAdded, b.durationMs])).toEqual([
      [150010, 3 * 1024 * 1024 * 1024, 2 * 1024 * 1024 * 1024, 95_000],
      [160004, 3 * 1024 * 1024 * 1024, 5 * 1024 * 1024, 7_000],
    ]);
    const wal = jsonLines(r.stdout).filter((l) => l.messageType === 'wal');
    expect(wal).toMatchObject([{ timeline: 1, segments: 4, storedBytes: expect.any(Number) }]);
  });
});
