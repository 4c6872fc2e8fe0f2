import { loadConfigFile } from '../../pipeline/config/load';
import { printJson } from '../io';
import type { Verb } from '../verb';

/** `zapas config check FILE`: validates the service's configuration, naming every problem and its line. */
const configCheck: Verb = {
  name: 'check',
  summary: 'check a configuration file (zapas.yaml or JSON): every problem with its field and line',
  args: ['<file>'],
  configure: (cmd) => cmd.option('--json', 'print the checked configuration, defaults filled in, as JSON'),
  exits: [0, 2],
  async run([file], opts, ctx) {
    const config = await loadConfigFile(file!);
    if (opts.json) printJson(ctx.io, { messageType: 'config', ...config });
    else if (!ctx.globals.quiet) {
      const sources = Object.entries(config.sources);
      ctx.io.stdout.write(
        `${file}: ok, ${sources.length} source${sources.length === 1 ? '' : 's'} in ${Object.keys(config.repositories).length} repositor${Object.keys(config.repositories).length === 1 ? 'y' : 'ies'}\n` +
          sources
            .map(
              ([id, s]) =>
                `  ${id} (${s.type}, ${s.dataClass}, priority ${s.priority}): ${s.schedules.map((x) => x.cron).join('; ') || 'no schedule'}${s.events.length ? `; on ${s.events.join(', ')}` : ''}\n`,
            )
            .join(''),
      );
    }
    return 0;
  },
};

export const config: Verb = {
  name: 'config',
  summary: "the service's configuration: sources, schedules, policies",
  exits: [0, 2],
  run: async () => 2,
  subverbs: [configCheck],
};
