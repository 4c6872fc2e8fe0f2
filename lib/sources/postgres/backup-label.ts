import { IntegrityError } from '../../repo/errors';

/** The fields of a backup_label file that a restore needs. */
export interface BackupLabel {
  startLsn: string;
  startWal: string;
  /** Undefined when the server wrote it in a zone known only by its abbreviation (MSK, CET…). */
  startTime: Date | undefined;
  timeline: number;
  label: string;
}

/** Parses backup_label ("START WAL LOCATION: 0/2000028 (file 000000010000000000000002)", …). */
export function parseBackupLabel(text: string): BackupLabel {
  const field = (key: string) => {
    const m = new RegExp(`^${key}: (.*)$`, 'm').exec(text);
    if (!m) throw new IntegrityError('backup_label', `has no "${key}" line`);
    return m[1]!.trim();
  };
  const start = /^([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/.exec(field('START WAL LOCATION'));
  if (!start) throw new IntegrityError('backup_label', 'START WAL LOCATION is malformed');
  return {
    startLsn: start[1]!,
    startWal: start[2]!,
    startTime: parseLabelTime(field('START TIME')),
    timeline: Number(field('START TIMELINE')),
    label: field('LABEL'),
  };
}

/** The WAL range of a backup_manifest (version 1): where the backup's WAL ends. */
export function manifestWalRange(manifest: Buffer): { timeline: number; startLsn: string; endLsn: string } {
  let parsed: { 'WAL-Ranges'?: { Timeline: number; 'Start-LSN': string; 'End-LSN': string }[] };
  try {
    parsed = JSON.parse(manifest.toString('utf8'));
  } catch (cause) {
    throw new IntegrityError('backup_manifest', 'is not JSON', { cause });
  }
  const ranges = parsed['WAL-Ranges'] ?? [];
  const last = ranges.at(-1);
  if (!last) throw new IntegrityError('backup_manifest', 'has no WAL-Ranges');
  return { timeline: last.Timeline, startLsn: ranges[0]!['Start-LSN'], endLsn: last['End-LSN'] };
}

/** "2026-12-02 14:21:09 UTC" (or GMT, or a numeric offset); abbreviations of other zones are ambiguous. */
function parseLabelTime(text: string): Date | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) (\S+)$/.exec(text);
  if (!m) return undefined;
  const zone = m[3] === 'UTC' || m[3] === 'GMT' ? 'Z' : /^[+-]\d\d(:?\d\d)?$/.test(m[3]!) ? m[3] : undefined;
  if (!zone) return undefined;
  const date = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
