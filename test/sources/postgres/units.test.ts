import { parseTime } from '../../../lib/cli/verbs/pg/restore';
import type { PgBaseBackupInfo, SnapshotRecord } from '../../../lib/repo/snapshot';
import { ConninfoError, parseConninfo, withDbname } from '../../../lib/sources/postgres/conninfo';
import {
  confString,
  pgTimestamp,
  recoveryLines,
  shellWord,
} from '../../../lib/sources/postgres/recovery-settings';
import { chooseBaseBackup, RecoveryTargetError } from '../../../lib/sources/postgres/recovery-target';
import { backupWindows, timelineRanges } from '../../../lib/sources/postgres/recovery-window';
import {
  formatLsn,
  parseLsn,
  segmentName,
  segmentNumber,
  segmentOfLsn,
  walFileKind,
} from '../../../lib/sources/postgres/wal-names';

describe('libpq connection strings', () => {
  it('parses keyword/value strings with quoting, and URIs', () => {
    expect(
      parseConninfo("host=/run/postgresql port=5433 dbname='my db' application_name='it\\'s'").all,
    ).toEqual({
      host: '/run/postgresql',
      port: '5433',
      dbname: 'my db',
      application_name: "it's",
    });
    expect(parseConninfo('postgresql://backup@db1.internal:6432/app?sslmode=require')).toMatchObject({
      host: 'db1.internal',
      port: 6432,
      user: 'backup',
      dbname: 'app',
      sslmode: 'require',
    });
  });

  it('refuses a password in either form, without echoing it', () => {
    for (const text of ['host=db password=hunter2', 'postgresql://u:hunter2@db/app']) {
      expect(() => parseConninfo(text)).toThrow(ConninfoError);
      expect(() => parseConninfo(text)).not.toThrow(/hunter2/);
    }
  });

  it('names malformed input', () => {
    expect(() => parseConninfo('host')).toThrow(/malformed connection string near "host"/);
    expect(() => parseConninfo("dbname='open")).toThrow(/unterminated quoted value for "dbname"/);
    expect(() => parseConninfo('port=abc')).toThrow(/port must be a whole number/);
  });

  it('swaps the database, keeping the rest', () => {
    expect(parseConninfo(withDbname('host=/tmp port=1 dbname=a', 'b c')).all).toEqual({
      host: '/tmp',
      port: '1',
      dbname: 'b c',
    });
  });
});

describe('WAL names and positions', () => {
  it('tells the kinds of archived files apart', () => {
    expect(walFileKind('000000010000000A000000FF')).toBe('segment');
    expect(walFileKind('00000002.history')).toBe('history');
    expect(walFileKind('000000010000000000000002.00000028.backup')).toBe('backup');
    expect(walFileKind('000000010000000000000002.partial')).toBe('partial');
    expect(walFileKind('../etc/passwd')).toBeUndefined();
    expect(walFileKind('000000010000000000000002 ')).toBeUndefined();
  });

  it('maps segment names, numbers and LSNs both ways', () => {
    expect(segmentNumber('000000010000000A000000FF')).toBe(0xa00n + 0xffn);
    expect(segmentName(1, 0xa00n + 0xffn)).toBe('000000010000000A000000FF');
    expect(segmentOfLsn(3, parseLsn('16/B374D848'))).toBe('0000000300000016000000B3');
    expect(formatLsn(parseLsn('16/B374D848'))).toBe('16/B374D848');
    expect(() => parseLsn('16-B3')).toThrow(/not an LSN/);
    // 64 MiB segments: 64 per 4 GiB.
    expect(segmentName(1, 65n, 64 * 1024 * 1024)).toBe('000000010000000100000001');
  });
});

describe('recovery settings', () => {
  it('quote for postgresql.conf and /bin/sh', () => {
    expect(confString("it's")).toBe("'it''s'");
    expect(shellWord('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellWord('/my dir/$x"')).toBe('"/my dir/\\$x\\""');
  });

  it('write times with a numeric offset (zone names are not known while postgres reads its config)', () => {
    expect(pgTimestamp(new Date('2026-12-02T11:00:05.250Z'))).toBe('2026-12-02 11:00:05.250+00');
  });

  it('set every recovery target, empty ones first, so an inherited target never applies', () => {
    const lines = recoveryLines(
      'zapas pg wal-fetch %f %p',
      { kind: 'name', name: 'before-4' },
      'pause',
      'preserve',
    );
    expect(lines[0]).toBe("restore_command = 'zapas pg wal-fetch %f %p'");
    const targets = lines.filter((l) => l.startsWith('recovery_target'));
    expect(targets.at(-2)).toBe("recovery_target_name = 'before-4'");
    expect(targets.filter((l) => l.endsWith("= ''"))).toHaveLength(4);
    expect(lines.at(-1)).toBe("recovery_target_action = 'pause'");
  });

  it('turn archiving off for a restored copy unless asked to preserve it', () => {
    const end = { kind: 'end' } as const;
    expect(recoveryLines('x %f %p', end, 'promote', 'off')).toContain("archive_mode = 'off'");
    expect(recoveryLines('x %f %p', end, 'promote', 'preserve').some((l) => l.startsWith('archive'))).toBe(
      false,
    );
  });

  it('parse --time only with a zone', () => {
    expect(parseTime('2026-12-02 14:00:05+03').toISOString()).toBe('2026-12-02T11:00:05.000Z');
    expect(parseTime('2026-12-02T11:00:05.5Z').toISOString()).toBe('2026-12-02T11:00:05.500Z');
    expect(parseTime('2026-12-02 14:00+0330').toISOString()).toBe('2026-12-02T10:30:00.000Z');
    expect(() => parseTime('2026-12-02 14:00:05')).toThrow(/with its zone/);
  });
});

function base(
  id: string,
  stopTime: string,
  stopLsn: string,
  extra: Partial<PgBaseBackupInfo> = {},
): SnapshotRecord {
  const info: PgBaseBackupInfo = {
    kind: 'base',
    type: 'full',
    systemId: '1',
    serverVersion: 150000,
    timeline: 1,
    segmentBytes: 16 * 1024 * 1024,
    startLsn: stopLsn,
    stopLsn,
    startWal: segmentOfLsn(1, parseLsn(stopLsn)),
    stopWal: segmentOfLsn(1, parseLsn(stopLsn)),
    startTime: stopTime,
    stopTime,
    label: id,
    tablespaces: [],
    walIncluded: false,
    ...extra,
  };
  return { id, snapshot: { postgres: info } } as unknown as SnapshotRecord;
}

describe('choosing the base backup for a target', () => {
  const backups = [
    base('a', '2026-12-01T00:00:00Z', '0/3000100'),
    base('b', '2026-12-02T00:00:00Z', '0/9000100'),
  ];
  const archive = {
    lastSegment: '000000010000000000000010',
    lastArchivedAt: new Date('2026-12-03T00:00:00Z'),
  };

  it('takes the newest backup that ended before a time or an LSN', () => {
    const at = (t: string) => ({ kind: 'time' as const, time: new Date(t), text: t });
    expect(chooseBaseBackup(backups, at('2026-12-01T12:00:00Z'), archive).id).toBe('a');
    expect(chooseBaseBackup(backups, at('2026-12-02T12:00:00Z'), archive).id).toBe('b');
    const lsn = (t: string) => ({ kind: 'lsn' as const, lsn: parseLsn(t), text: t });
    expect(chooseBaseBackup(backups, lsn('0/5000000'), archive).id).toBe('a');
    expect(chooseBaseBackup(backups, { kind: 'name', name: 'x' }, archive).id).toBe('b');
  });

  it('refuses targets before the oldest backup or after the archive', () => {
    const at = (t: string) => ({ kind: 'time' as const, time: new Date(t), text: t });
    expect(() => chooseBaseBackup(backups, at('2026-11-30T00:00:00Z'), archive)).toThrow(RecoveryTargetError);
    expect(() => chooseBaseBackup(backups, at('2026-12-04T00:00:00Z'), archive)).toThrow(
      /after the newest archived WAL/,
    );
    const lsn = { kind: 'lsn' as const, lsn: parseLsn('0/20000000'), text: '0/20000000' };
    expect(() => chooseBaseBackup(backups, lsn, archive)).toThrow(/after the newest archived WAL/);
    expect(() => chooseBaseBackup([], { kind: 'end' }, archive)).toThrow(/no base backup/);
  });
});

describe('the recovery window', () => {
  const names = (nums: number[], tl = 1) => nums.map((n) => ({ name: segmentName(tl, BigInt(n)), size: 1 }));

  it('finds holes per timeline', () => {
    const ranges = timelineRanges([...names([3, 4, 5, 7, 8, 11]), ...names([8, 9], 2)]);
    expect(ranges).toEqual([
      {
        timeline: 1,
        first: segmentName(1, 3n),
        last: segmentName(1, 11n),
        segments: 6,
        storedBytes: 6,
        gaps: [segmentName(1, 6n), segmentName(1, 9n)],
      },
      {
        timeline: 2,
        first: segmentName(2, 8n),
        last: segmentName(2, 9n),
        segments: 2,
        storedBytes: 2,
        gaps: [],
      },
    ]);
  });

  it('says how far each backup restores, and which one lacks its own WAL', () => {
    const ranges = timelineRanges(names([3, 4, 5, 7, 8]));
    const windows = backupWindows(
      [
        base('a', '2026-12-01T00:00:00Z', '0/3000100'),
        base('b', '2026-12-02T00:00:00Z', '0/7000100'),
        base('c', '2026-12-02T00:00:00Z', '0/6000100'),
      ],
      ranges,
    );
    expect(windows.map((w) => [w.id, w.reachable ?? `missing ${w.missing}`])).toEqual([
      ['a', segmentName(1, 5n)],
      ['b', segmentName(1, 8n)],
      ['c', `missing ${segmentName(1, 6n)}`],
    ]);
  });
});
