import { removeLocks } from '../../repo/lock';
import { openRepo } from '../context';
import type { Verb } from '../verb';

export const unlock: Verb = {
  name: 'unlock',
  summary: 'remove stale locks (left by processes that died)',
  configure: (cmd) =>
    cmd.option('--remove-all', 'remove every lock, also live ones (only when you know nothing runs)'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const repo = await openRepo(ctx);
    const n = await removeLocks(repo, Boolean(opts.removeAll));
    if (!ctx.globals.quiet) ctx.io.stdout.write(`removed ${n} lock(s)\n`);
    return 0;
  },
};
