import { parseDuration } from '../../policy/duration';
import { applyRetention, type RetentionPolicy } from '../../policy/retention';
import type { SnapshotId } from '../../repo/ids';
import { pruneRepository } from '../../repo/prune';
import { matchesFilter } from '../../repo/snapshot-filter';
import { openRepo } from '../context';
import { UsageError } from '../errors';
import { printJson } from '../io';
import { filterOf, snapshotFilterOptions } from '../snapshot-options';
import { collect, intOption, type Verb } from '../verb';
import { expireWal, parseGrace } from './prune';

const KEEP = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

export const forget: Verb = {
  name: 'forget',
  summary: 'remove snapshots, named or by a retention policy (data is freed by prune)',
  args: ['[snapshot...]'],
  configure: (cmd) => {
    for (const k of KEEP)
      cmd.option(
        `--keep-${k} <n>`,
        `keep the ${k === 'last' ? 'n newest' : `newest snapshot of each of the last n ${k} periods`}`,
        intOption(`--keep-${k}`),
      );
    return snapshotFilterOptions(cmd)
      .option(
        '--keep-within <duration>',
        'keep snapshots within this duration of the newest one, e.g. 30d, 1y6m',
      )
      .option('--keep-tag <tag>', 'keep snapshots with this tag (repeatable)', collect, [])
      .option('--time-zone <iana>', 'time zone of days, weeks, months (default UTC)', 'UTC')
      .option('-n, --dry-run', 'show what would be removed, remove nothing')
      .option('--prune', 'run prune afterwards')
      .option('--grace <duration>', 'with --prune: keep condemned packs at least this long (default 0h)')
      .option('--json', 'print the decision as JSON lines');
  },
  exits: [0, 1, 2, 10, 11, 12],
  audit: {
    action: 'delete',
    target: (ids, opts) => ({
      snapshots: ids,
      policy: Object.entries(opts)
        .filter(([k, v]) => k.startsWith('keep') && v !== undefined && !(Array.isArray(v) && v.length === 0))
        .map(([k, v]) => `${k}=${v}`),
      prune: opts.prune,
    }),
    skip: (opts) => Boolean(opts.dryRun),
  },
  async run(ids, opts, ctx) {
    const policy: RetentionPolicy = {
      ...Object.fromEntries(
        KEEP.filter((k) => opts[`keep${cap(k)}`] !== undefined).map((k) => [
          k,
          opts[`keep${cap(k)}`] as number,
        ]),
      ),
      ...(opts.keepWithin ? { within: parseDuration(opts.keepWithin as string) } : {}),
      ...((opts.keepTag as string[]).length > 0 ? { tags: opts.keepTag as string[] } : {}),
    };
    const hasPolicy = Object.keys(policy).length > 0;
    if (ids.length > 0 && hasPolicy) throw new UsageError('give snapshot ids or --keep-* rules, not both');
    if (ids.length === 0 && !hasPolicy)
      throw new UsageError('nothing to forget: give snapshot ids or at least one --keep-* rule');
    const repo = await openRepo(ctx);
    // The filters pick the snapshots a policy applies to; a named id outside them is refused.
    const filter = filterOf(opts);
    let remove: SnapshotId[];
    if (ids.length > 0) {
      remove = [];
      for (const ref of ids) remove.push((await repo.findSnapshot(ref, filter)).id);
    } else {
      const all = (await repo.listSnapshots()).filter((s) => matchesFilter(s.snapshot, filter));
      const decision = applyRetention(
        all.map((s) => ({
          id: s.id,
          time: new Date(s.snapshot.time),
          tags: s.snapshot.tags,
          group: s.snapshot.source,
        })),
        policy,
        { now: new Date(), timeZone: opts.timeZone as string },
      );
      for (const k of decision.keep) {
        if (opts.json)
          printJson(ctx.io, {
            messageType: 'keep',
            id: k.snapshot.id,
            time: k.snapshot.time,
            source: k.snapshot.group,
            reasons: k.reasons,
          });
        else if (!ctx.globals.quiet)
          ctx.io.stdout.write(
            `keep    ${k.snapshot.id.slice(0, 8)}  ${k.snapshot.time.toISOString()}  ${k.snapshot.group}  (${k.reasons.join(', ')})\n`,
          );
      }
      remove = decision.remove.map((s) => s.id as SnapshotId);
    }
    for (const id of remove) {
      if (opts.json) printJson(ctx.io, { messageType: 'remove', id, dryRun: Boolean(opts.dryRun) });
      else if (!ctx.globals.quiet)
        ctx.io.stdout.write(`${opts.dryRun ? 'would remove' : 'remove'}  ${id.slice(0, 8)}\n`);
      if (!opts.dryRun) await repo.deleteSnapshot(id);
    }
    if (!opts.json && !ctx.globals.quiet)
      ctx.io.stdout.write(`${remove.length} snapshot(s) ${opts.dryRun ? 'would be ' : ''}removed\n`);
    if (opts.prune && !opts.dryRun) {
      const onInfo = (line: string) => !ctx.globals.quiet && !opts.json && ctx.io.stdout.write(`${line}\n`);
      const report = await pruneRepository(repo, {
        graceMs: parseGrace(opts.grace as string | undefined),
        onInfo,
      });
      const wal = await expireWal(repo, { dryRun: false, onInfo });
      if (opts.json) printJson(ctx.io, { messageType: 'prune', ...report, ...wal });
    }
    return 0;
  },
};

function cap(s: string): string {
  return s[0]!.toUpperCase() + s.slice(1);
}
