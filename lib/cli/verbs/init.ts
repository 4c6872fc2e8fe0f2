import { PasswordKeySlot } from '../../keys/password';
import { Repository } from '../../repo/repository';
import { kdfLogN, repoPassword, repoUrl, storageFor } from '../context';
import { printJson } from '../io';
import type { Verb } from '../verb';

export const init: Verb = {
  name: 'init',
  summary: 'create a new repository',
  configure: (cmd) => cmd.option('--json', 'print the result as JSON'),
  exits: [0, 1, 2],
  async run(_args, opts, ctx) {
    const storage = storageFor(ctx, repoUrl(ctx));
    const password = await repoPassword(ctx, true);
    const repo = await Repository.init(storage, new PasswordKeySlot(password, kdfLogN(ctx)));
    if (opts.json) printJson(ctx.io, { id: repo.config.id, location: storage.location });
    else if (!ctx.globals.quiet) {
      ctx.io.stdout.write(`created repository ${repo.config.id.slice(0, 8)} at ${storage.location}\n`);
      ctx.io.stdout.write(
        'keep the password safe: without it the data cannot be read by anyone, including you\n',
      );
    }
    return 0;
  },
};
