import { backupFiles } from '../../sources/files/backup';
import { ExcludeMatcher, readExcludeFiles } from '../../sources/files/excludes';
import { withRepoAndWorkers } from '../context';
import { EXIT } from '../errors';
import { formatBytes, formatDuration } from '../format';
import { printJson } from '../io';
import { JsonStatus } from '../json-status';
import { ProgressLine } from '../progress';
import { collect, type Verb } from '../verb';

export const backup: Verb = {
  name: 'backup',
  summary: 'back up files and folders into a new snapshot',
  args: ['<path...>'],
  configure: (cmd) =>
    cmd
      .option('-e, --exclude <glob>', 'skip paths matching the pattern (repeatable)', collect, [])
      .option('--exclude-file <file>', 'read exclude patterns from a file (repeatable)', collect, [])
      .option('--tag <tag>', 'tag the snapshot (repeatable)', collect, [])
      .option('--source <name>', 'source name: snapshots of one source form one history (default host:paths)')
      .option(
        '--force',
        're-read every file, even those the parent snapshot says are unchanged (a re-read file counts as unmodified when its content and metadata are the same)',
      )
      .option(
        '--json',
        'print JSON lines on stdout: status lines while it runs (files, bytes, and percent when the parent snapshot gives a total; at most one a second), warnings, then the summary',
      ),
  exits: [0, 1, 2, 3, 10, 12],
  async run(paths, opts, ctx) {
    const patterns = [
      ...(opts.exclude as string[]),
      ...(await readExcludeFiles(opts.excludeFile as string[])),
    ];
    const excludes = new ExcludeMatcher(patterns);
    const progress = new ProgressLine(ctx, 'backup');
    const status = opts.json ? new JsonStatus(ctx.io) : undefined;
    const warnings: string[] = [];
    const damage: string[] = [];
    const result = await withRepoAndWorkers(ctx, (repo, pool) =>
      backupFiles(repo, paths, {
        ...(pool ? { pool } : {}),
        excludes,
        excludePatterns: patterns,
        ...(opts.source ? { source: opts.source as string } : {}),
        tags: opts.tag as string[],
        force: Boolean(opts.force),
        onProgress: (p) => {
          progress.update(p.files, p.bytesProcessed, p.expectedBytes);
          status?.update({
            files: p.files,
            dirs: p.dirs,
            bytes: p.bytesProcessed,
            ...(p.expectedBytes !== undefined ? { totalBytes: p.expectedBytes } : {}),
          });
        },
        onDamage: (object, message) => {
          damage.push(object);
          progress.done();
          ctx.io.stderr.write(`warning: repository damage: ${message}\n`);
        },
        onWarning: (w) => {
          warnings.push(w.path);
          progress.done();
          ctx.io.stderr.write(`warning: ${w.path}: ${w.message}\n`);
          if (opts.json) printJson(ctx.io, { messageType: 'warning', path: w.path, message: w.message });
        },
      }),
    );
    progress.done();
    status?.done();
    const s = result.snapshot.summary;
    if (opts.json) {
      printJson(ctx.io, {
        messageType: 'summary',
        snapshotId: result.snapshotId,
        parent: result.parent?.id ?? null,
        source: result.snapshot.source,
        filesNew: s.filesNew,
        filesChanged: s.filesChanged,
        filesUnmodified: s.filesUnmodified,
        dirs: s.dirs,
        bytesProcessed: s.bytesProcessed,
        bytesAdded: s.bytesAdded,
        blobsAdded: s.blobsAdded,
        durationMs: s.durationMs,
        errors: s.errors,
      });
    } else if (!ctx.globals.quiet) {
      ctx.io.stdout.write(
        `${[
          result.parent
            ? `using parent snapshot ${result.parent.id.slice(0, 8)}`
            : 'no parent snapshot: every file is read',
          `files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified; ${s.dirs} folders`,
          `processed ${formatBytes(s.bytesProcessed)} in ${formatDuration(s.durationMs)}, added ${formatBytes(s.bytesAdded)} to the repository`,
          `snapshot ${result.snapshotId.slice(0, 8)} saved`,
        ].join('\n')}\n`,
      );
    }
    if (damage.length > 0) {
      ctx.io.stderr.write(
        `the snapshot was written, but ${damage.length} older snapshot(s) do not open: run \`zapas check\`\n`,
      );
    }
    if (warnings.length > 0) {
      ctx.io.stderr.write(
        `${warnings.length} file(s) could not be read completely; the snapshot lacks or marks them (see warnings above)\n`,
      );
      return EXIT.partial;
    }
    return damage.length > 0 ? EXIT.partial : EXIT.ok;
  },
};
