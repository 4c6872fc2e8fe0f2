import type { Repository } from '../../repo/repository';
import { WalArchive } from './wal-archive';
import { segmentNumber, timelineOf, walFileKind } from './wal-names';

/** What restore_command may answer for one name. */
export type FetchOutcome =
  /** Written to the path asked for, verified. */
  | { kind: 'found'; archivedAt: Date }
  /** Not archived, and nothing after it on its timeline: the WAL ends here. */
  | { kind: 'absent' }
  /** Not archived, but a later segment of its timeline is: recovery must not end quietly at a hole. */
  | { kind: 'gap'; later: string };

/**
 * Fetches a WAL file for recovery into `path` (see WalArchive.fetchToFile), telling the end of the archive
 * apart from a hole in it.
 */
export async function fetchForRecovery(
  repo: Repository,
  source: string,
  name: string,
  path: string,
): Promise<FetchOutcome> {
  const archive = new WalArchive(repo, source);
  const file = await archive.fetchToFile(name, path);
  if (file) return { kind: 'found', archivedAt: file.archivedAt };
  if (walFileKind(name) !== 'segment') return { kind: 'absent' };
  const wanted = segmentNumber(name);
  const later = (await archive.list(timelineOf(name)))
    .filter((e) => walFileKind(e.name) === 'segment' && segmentNumber(e.name) > wanted)
    .map((e) => e.name)
    .sort()[0];
  return later ? { kind: 'gap', later } : { kind: 'absent' };
}
