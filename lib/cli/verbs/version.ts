import { PROGRAM } from '../../repo/program';
import { printJson } from '../io';
import { isSingleExecutable } from '../self';
import type { Verb } from '../verb';

export const version: Verb = {
  name: 'version',
  summary: 'print the version of zapas, the Node.js it runs on, and how it was started',
  configure: (cmd) => cmd.option('--json', 'print it as JSON'),
  exits: [0],
  async run(_args, opts, ctx) {
    const form = isSingleExecutable() ? 'self-contained executable' : 'script';
    if (opts.json)
      printJson(ctx.io, { program: PROGRAM, node: process.version, form, path: process.execPath });
    else ctx.io.stdout.write(`${PROGRAM} (${form}, Node.js ${process.version})\n`);
    return 0;
  },
};
