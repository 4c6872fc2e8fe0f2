import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { SnapshotFilter } from '../repo/snapshot-filter';
import { collect, type VerbOptions } from './verb';

/**
 * Adds the snapshot filter options (--source, --tag, --host, --path, each repeatable) to a verb. `source:
 * false` leaves --source out, for verbs where it names something else (`pg restore`'s PostgreSQL source).
 */
export function snapshotFilterOptions(cmd: Command, { source = true } = {}): Command {
  if (source)
    cmd.option('--source <name>', 'only snapshots of this source (repeatable: any of them)', collect, []);
  return cmd
    .option(
      '--tag <tag[,tag]>',
      'only snapshots with this tag, or all of a,b (repeatable: any of them)',
      collect,
      [],
    )
    .option('--host <host>', 'only snapshots made on this host (repeatable: any of them)', collect, [])
    .option('--path <path>', 'only snapshots that include this path (repeatable: all of them)', collect, []);
}

/** What --help says of the filters where a verb takes `latest`. */
export const SNAPSHOT_FILTER_HELP =
  'In a repository shared by many sources, "latest" is the newest snapshot of any of them: --source, --tag,\n' +
  '--host and --path make it the newest of those that match. A snapshot id that does not match them is refused.\n';

/** The filter the options of snapshotFilterOptions ask for; paths made absolute, as snapshots keep them. */
export function filterOf(opts: VerbOptions, { source = true } = {}): SnapshotFilter {
  const list = (k: string) => (opts[k] as string[] | undefined) ?? [];
  return {
    sources: source ? list('source') : [],
    tags: list('tag'),
    hosts: list('host'),
    paths: list('path').map((p) => resolve(p)),
  };
}
