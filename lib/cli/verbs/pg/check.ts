import { checkArchiving } from '../../../sources/postgres/archive-check';
import { openRepo } from '../../context';
import { printJson } from '../../io';
import type { Verb } from '../../verb';
import {
  ARCHIVE_TIMEOUT_OPTION,
  PG_OPTION,
  parseTimeout,
  pgConninfo,
  pgSource,
  SOURCE_OPTION,
} from './source';

export const pgCheck: Verb = {
  name: 'check',
  summary:
    "prove WAL archiving works: switch the server's WAL and wait for the segment to arrive in the repository",
  configure: (cmd) =>
    cmd
      .option(...SOURCE_OPTION)
      .option(...PG_OPTION)
      .option(...ARCHIVE_TIMEOUT_OPTION)
      .option('--json', 'print the result as JSON'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const source = pgSource(ctx, opts);
    const conninfo = pgConninfo(ctx, opts);
    const timeoutMs = parseTimeout(opts.archiveTimeout as string, '--archive-timeout');
    const result = await checkArchiving(await openRepo(ctx), { source, conninfo, timeoutMs });
    if (opts.json) printJson(ctx.io, { messageType: 'summary', source, ...result });
    else if (!ctx.globals.quiet)
      ctx.io.stdout.write(
        `archiving works: the server's ${result.segment} reached source "${source}" ${(result.ms / 1000).toFixed(1)} s after the switch (system identifier ${result.systemId})\n`,
      );
    return 0;
  },
};
