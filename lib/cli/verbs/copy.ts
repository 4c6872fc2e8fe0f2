import { PasswordKeySlot } from '../../keys/password';
import { copySnapshots } from '../../repo/copy';
import { Repository } from '../../repo/repository';
import { kdfLogN, openRepo, storageFor } from '../context';
import { UsageError } from '../errors';
import { formatBytes } from '../format';
import { printJson } from '../io';
import { readPassword } from '../password';
import type { Verb } from '../verb';

export const copy: Verb = {
  name: 'copy',
  summary: 'copy snapshots into another repository (its own key; only missing data travels)',
  args: ['[snapshot...]'],
  configure: (cmd) =>
    cmd
      .option('--to <url>', 'destination repository (env ZAPAS_TO_REPOSITORY)')
      .option(
        '--to-password-file <file>',
        'read the destination password from a file (env ZAPAS_TO_PASSWORD_FILE, ZAPAS_TO_PASSWORD)',
      )
      .option('--json', 'print the result as JSON'),
  exits: [0, 1, 2, 10, 11, 12],
  audit: { action: 'restore', target: (refs, opts) => ({ snapshots: refs, to: opts.to }) },
  async run(refs, opts, ctx) {
    const url = (opts.to as string | undefined) ?? ctx.io.env.ZAPAS_TO_REPOSITORY;
    if (!url) throw new UsageError('no destination: pass --to URL or set ZAPAS_TO_REPOSITORY');
    const src = await openRepo(ctx);
    const password = await readPassword(ctx.io, {
      envVar: 'ZAPAS_TO_PASSWORD',
      fileEnvVar: 'ZAPAS_TO_PASSWORD_FILE',
      file: opts.toPasswordFile as string | undefined,
      option: '--to-password-file',
      prompt: 'destination repository password: ',
    });
    const dst = await Repository.open(storageFor(ctx, url), new PasswordKeySlot(password, kdfLogN(ctx)));
    const result = await copySnapshots(
      src,
      dst,
      refs,
      (line) => !ctx.globals.quiet && !opts.json && ctx.io.stdout.write(`${line}\n`),
    );
    if (opts.json) printJson(ctx.io, { messageType: 'summary', ...result });
    else if (!ctx.globals.quiet) {
      ctx.io.stdout.write(
        `copied ${result.copied.length} snapshot(s), ${result.skipped.length} already there; added ${formatBytes(result.bytesAdded)}\n`,
      );
    }
    return 0;
  },
};
