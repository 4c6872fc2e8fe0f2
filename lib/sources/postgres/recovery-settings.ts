import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecoveryTarget } from './recovery-target';
import { formatLsn } from './wal-names';

/** What the restored server does once it reaches the target (recovery_target_action). */
export type TargetAction = 'pause' | 'promote' | 'shutdown';

/** A value in postgresql.conf syntax: single-quoted, quotes doubled. */
export function confString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A word for /bin/sh, double-quoted where needed ($, `, \\ and " escaped). */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `"${value.replace(/(["$`\\])/g, '\\$1')}"`;
}

/** The recovery settings for a target, as postgresql.conf lines. */
export function recoveryLines(
  restoreCommand: string,
  target: RecoveryTarget,
  action: TargetAction,
): string[] {
  const lines = [`restore_command = ${confString(restoreCommand)}`, "recovery_target_timeline = 'latest'"];
  switch (target.kind) {
    case 'time':
      lines.push(`recovery_target_time = ${confString(pgTimestamp(target.time))}`);
      break;
    case 'lsn':
      lines.push(`recovery_target_lsn = ${confString(formatLsn(target.lsn))}`);
      break;
    case 'xid':
      lines.push(`recovery_target_xid = ${confString(target.xid)}`);
      break;
    case 'name':
      lines.push(`recovery_target_name = ${confString(target.name)}`);
      break;
    case 'end':
      return lines;
  }
  lines.push(`recovery_target_action = ${confString(action)}`);
  return lines;
}

/**
 * Makes a restored data directory recover when postgres starts on it: the settings go at the end of
 * postgresql.auto.conf (later lines win), and recovery.signal asks for targeted archive recovery.
 */
export async function writeRecoverySettings(dataDir: string, lines: readonly string[]): Promise<void> {
  const block = [
    '',
    `# Added by zapas pg restore at ${new Date().toISOString()}: recovery from the zapas WAL archive.`,
    ...lines,
    '',
  ].join('\n');
  await appendFile(join(dataDir, 'postgresql.auto.conf'), block, { mode: 0o600 });
  await writeFile(join(dataDir, 'recovery.signal'), '', { mode: 0o600 });
}

/**
 * A moment as PostgreSQL reads it while it starts: a numeric zone offset, because zone abbreviations
 * (even "Z") are not known yet when postgresql.conf is read ("invalid value for recovery_target_time").
 */
export function pgTimestamp(time: Date): string {
  return `${time.toISOString().replace('T', ' ').replace('Z', '')}+00`;
}
