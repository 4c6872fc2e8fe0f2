import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fetchForRecovery } from '../../../sources/postgres/wal-fetch';
import { openRepo } from '../../context';
import { EXIT } from '../../errors';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION } from './source';

export const walFetch: Verb = {
  name: 'wal-fetch',
  summary:
    "restore one WAL file (restore_command = 'zapas pg wal-fetch %f %p'); 1 when the archive ends before it",
  args: ['<name>', '<path>'],
  configure: (cmd) => cmd.option(...SOURCE_OPTION),
  exits: [0, 1, 2, EXIT.walAbort],
  async run([name, path], opts, ctx) {
    try {
      const source = pgSource(ctx, opts);
      const repo = await openRepo(ctx);
      const outcome = await fetchForRecovery(repo, source, name!);
      if (outcome.kind === 'absent') return EXIT.failure;
      if (outcome.kind === 'gap') {
        ctx.io.stderr.write(
          `zapas: ${name} is missing from the archive of source "${source}", but ${outcome.later} is there: ` +
            'a gap in the WAL; recovery stops here instead of ending early\n',
        );
        return EXIT.walAbort;
      }
      // Written beside its final name and renamed: PostgreSQL never sees half a file.
      const temp = join(dirname(path!), `.zapas-fetch-${process.pid}-${name}`);
      try {
        await writeFile(temp, outcome.file.data);
        await rename(temp, path!);
      } finally {
        await rm(temp, { force: true });
      }
      return EXIT.ok;
    } catch (err) {
      // Anything but "not archived" must stop recovery: exit 1 would let PostgreSQL end it here.
      ctx.io.stderr.write(`zapas: cannot fetch ${name}: ${(err as Error).message}\n`);
      return EXIT.walAbort;
    }
  },
};
