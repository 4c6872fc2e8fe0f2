import { join } from 'node:path';
import { appendToEntry, writeEntry } from './data-dir-files';
import type { RecoveryTarget } from './recovery-target';
import { formatLsn } from './wal-names';

/** What the restored server does once it reaches the target (recovery_target_action). */
export type TargetAction = 'pause' | 'promote' | 'shutdown';

/**
 * Whether the restored server archives as the backed-up one did. `off`: archive_mode = off, because a
 * restored copy keeps the backup's archive_command and would push its new timeline into the production
 * source. `preserve`: the backup's settings stay (the restore replaces the server that archives there).
 */
export type ArchiveMode = 'off' | 'preserve';
export const ARCHIVE_MODES: readonly ArchiveMode[] = ['off', 'preserve'];

/** A value in postgresql.conf syntax: single-quoted, quotes doubled. */
export function confString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A word for /bin/sh, double-quoted where needed ($, `, \\ and " escaped). */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `"${value.replace(/(["$`\\])/g, '\\$1')}"`;
}

/**
 * The recovery settings for a target, as postgresql.conf lines. Every recovery_target_* setting is given,
 * empty where it is not the target: a data directory backed up from a server that was itself restored
 * carries that restore's target in postgresql.auto.conf, and would stop there again.
 */
export function recoveryLines(
  restoreCommand: string,
  target: RecoveryTarget,
  action: TargetAction,
  archiveMode: ArchiveMode,
): string[] {
  const values: Record<string, string> = {
    recovery_target: target.kind === 'immediate' ? 'immediate' : '',
    recovery_target_time: target.kind === 'time' ? pgTimestamp(target.time) : '',
    recovery_target_lsn: target.kind === 'lsn' ? formatLsn(target.lsn) : '',
    recovery_target_xid: target.kind === 'xid' ? target.xid : '',
    recovery_target_name: target.kind === 'name' ? target.name : '',
  };
  // The empty ones first: setting one to '' after another holds a target is "multiple recovery targets".
  const ordered = Object.entries(values).sort(([, a], [, b]) => (a === '' ? 0 : 1) - (b === '' ? 0 : 1));
  return [
    `restore_command = ${confString(restoreCommand)}`,
    "recovery_target_timeline = 'latest'",
    ...ordered.map(([k, v]) => `${k} = ${confString(v)}`),
    `recovery_target_action = ${confString(target.kind === 'end' ? 'promote' : action)}`,
    ...(archiveMode === 'off' ? ["archive_mode = 'off'"] : []),
  ];
}

/**
 * Makes a restored data directory recover when postgres starts on it: the settings go at the end of
 * postgresql.auto.conf (later lines win), and recovery.signal asks for targeted archive recovery. Both
 * came from the snapshot, which may have made them symlinks: written as entries (data-dir-files.ts).
 */
export async function writeRecoverySettings(dataDir: string, lines: readonly string[]): Promise<void> {
  const block = [
    '',
    `# Added by zapas pg restore at ${new Date().toISOString()}: recovery from the zapas WAL archive.`,
    ...lines,
    '',
  ].join('\n');
  await appendToEntry(join(dataDir, 'postgresql.auto.conf'), block);
  await writeEntry(join(dataDir, 'recovery.signal'), '');
}

/**
 * A moment as PostgreSQL reads it while it starts: a numeric zone offset, because zone abbreviations
 * (even "Z") are not known yet when postgresql.conf is read ("invalid value for recovery_target_time").
 */
export function pgTimestamp(time: Date): string {
  return `${time.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}
