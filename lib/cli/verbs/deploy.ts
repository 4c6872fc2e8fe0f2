import { checkPrefix, writeYandexDeployment } from '../../infra/yandex/terraform-writer';
import { UsageError } from '../errors';
import type { Verb } from '../verb';

/**
 * `zapas deploy yandex --out DIR`: writes the Terraform JSON configuration of the whole service for Yandex
 * Cloud (docs/deploy-yandex.md), from the stage table and a checked configuration. A configuration that
 * fails `zapas config check` (personal data outside Russia included) is refused, and nothing is written.
 */
const deployYandex: Verb = {
  name: 'yandex',
  summary: 'write a Terraform configuration (main.tf.json and the function bundles) for Yandex Cloud',
  configure: (cmd) =>
    cmd
      .requiredOption('--out <dir>', 'folder to write main.tf.json and functions/ to (created if missing)')
      .option(
        '--config <file>',
        'the configuration given to every function (zapas.yaml or JSON)',
        'zapas.yaml',
      )
      .option('--prefix <name>', 'default of the prefix every resource name starts with', 'zapas')
      .option('--object-lock', 'Object Lock on the repository bucket (default retention from variables)')
      .option('--dist <dir>', 'where `npm run build` put the function bundles', 'dist'),
  exits: [0, 1, 2],
  async run(_args, opts, ctx) {
    const prefix = opts.prefix as string;
    try {
      checkPrefix(prefix);
    } catch (err) {
      throw new UsageError(`--prefix: ${(err as Error).message}`, { cause: err });
    }
    const out = opts.out as string;
    const written = await writeYandexDeployment({
      outDir: out,
      distRoot: opts.dist as string,
      configFile: opts.config as string,
      prefix,
      objectLock: Boolean(opts.objectLock),
    });
    for (const w of written.warnings) ctx.io.stderr.write(`zapas: warning: ${w}\n`);
    if (!ctx.globals.quiet)
      ctx.io.stdout.write(
        `wrote ${written.mainFile} (${written.resourceCount} resources) and ${written.functionDirs.length} function folders under ${out}\n` +
          `next: cd ${out} && terraform init && terraform apply -var cloud_id=… -var folder_id=… -var agent_image=…\n` +
          '      credentials: YC_TOKEN, and a static key that may create queues and the catalog table in\n' +
          '      YC_MESSAGE_QUEUE_ACCESS_KEY/_SECRET_KEY and AWS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY (docs/deploy-yandex.md)\n',
      );
    return 0;
  },
};

export const deploy: Verb = {
  name: 'deploy',
  summary: 'write the service’s cloud deployment: `deploy yandex` (Terraform for Yandex Cloud)',
  exits: [0, 1, 2],
  run: async () => 2,
  subverbs: [deployYandex],
};
