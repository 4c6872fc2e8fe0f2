import { Lock } from '../../repo/lock';
import { ExcludeMatcher } from '../../sources/files/excludes';
import { Restorer } from '../../sources/files/restorer';
import { withRepoAndWorkers } from '../context';
import { formatBytes, formatDuration } from '../format';
import { printJson } from '../io';
import { ProgressLine } from '../progress';
import { filterOf, SNAPSHOT_FILTER_HELP, snapshotFilterOptions } from '../snapshot-options';
import { collect, type Verb } from '../verb';

export const restore: Verb = {
  name: 'restore',
  summary: 'restore a snapshot (or part of it) into an empty folder',
  args: ['<snapshot>'],
  configure: (cmd) =>
    snapshotFilterOptions(cmd)
      .requiredOption('-t, --target <dir>', 'folder to restore into (must be empty or absent)')
      .option('-i, --include <glob>', 'restore only matching paths (repeatable)', collect, [])
      .option('-e, --exclude <glob>', 'skip matching paths (repeatable)', collect, [])
      .option('--verify', 're-read every restored file and check it against the snapshot')
      .option('--json', 'print the summary as JSON')
      .addHelpText('after', `\n${SNAPSHOT_FILTER_HELP}`),
  exits: [0, 1, 2, 10, 11, 12],
  audit: { action: 'restore', target: ([ref], opts) => ({ snapshot: ref, target: opts.target }) },
  async run([ref], opts, ctx) {
    return withRepoAndWorkers(ctx, async (repo, pool) => {
      const lock = await Lock.acquire(repo, 'shared');
      try {
        const started = Date.now();
        const { id, snapshot } = await repo.findSnapshot(ref!, filterOf(opts));
        await repo.loadIndex();
        const includes = opts.include as string[];
        const excludes = opts.exclude as string[];
        const progress = new ProgressLine(ctx, 'restore');
        const total = snapshot.summary.bytesProcessed;
        const restorer = new Restorer(repo, {
          ...(pool ? { pool } : {}),
          ...(includes.length > 0 ? { include: new ExcludeMatcher(includes) } : {}),
          ...(excludes.length > 0 ? { exclude: new ExcludeMatcher(excludes) } : {}),
          verify: Boolean(opts.verify),
          label: `snapshot ${id.slice(0, 8)}`,
          onProgress: (p) => progress.update(p.files, p.bytes, total),
          onWarning: (path, message) => ctx.io.stderr.write(`warning: ${path}: ${message}\n`),
        });
        const result = await restorer.restore(snapshot.tree, opts.target as string);
        progress.done();
        const durationMs = Date.now() - started;
        if (opts.json) printJson(ctx.io, { messageType: 'summary', snapshotId: id, ...result, durationMs });
        else if (!ctx.globals.quiet) {
          ctx.io.stdout.write(
            `restored snapshot ${id.slice(0, 8)} to ${opts.target}: ${result.files} files, ${result.dirs} folders, ${formatBytes(result.bytes)} in ${formatDuration(durationMs)}${opts.verify ? `; ${result.verifiedFiles} files verified` : ''}\n`,
          );
        }
        return 0;
      } finally {
        await lock.release();
      }
    });
  },
};
