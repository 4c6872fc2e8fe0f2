import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { WalArchive } from '../../../sources/postgres/wal-archive';
import { openRepo } from '../../context';
import type { Verb } from '../../verb';
import { pgSource, SOURCE_OPTION } from './source';

export const walPush: Verb = {
  name: 'wal-push',
  summary: "archive one WAL file (archive_command = 'zapas pg wal-push %p'); exits 0 only once it is durable",
  args: ['<path>'],
  configure: (cmd) => cmd.option(...SOURCE_OPTION),
  exits: [0, 1, 2, 10, 12],
  async run([path], opts, ctx) {
    const source = pgSource(ctx, opts);
    const name = basename(path!);
    const data = await readFile(path!);
    const repo = await openRepo(ctx);
    const outcome = await new WalArchive(repo, source).push(name, data);
    if (!ctx.globals.quiet && outcome === 'present')
      ctx.io.stderr.write(`zapas: ${name} was archived already with the same content\n`);
    return 0;
  },
};
