import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_ENV_MAX_BYTES } from '../../lib/infra/aws/deployment-config';
import { DeploymentError } from '../../lib/infra/aws/errors';
import { ConfigError } from '../../lib/pipeline/config/load';

import { build, CDK_CONTEXT, ROOT } from '../support/cdk-templates';

describe('what synth refuses', () => {
  const invalid = (edit: (text: string) => string) => {
    const dir = mkdtempSync(join(tmpdir(), 'zapas-cdk-'));
    const file = join(dir, 'zapas.yaml');
    writeFileSync(file, edit(readFileSync(join(ROOT, 'examples/zapas.yaml'), 'utf8')));
    return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
  };

  it('an invalid configuration, with parseConfig’s error naming the field', () => {
    const { file, done } = invalid((t) => t.replace('cron: "0 3 * * *"', 'cron: "61 3 * * *"'));
    try {
      expect(() => build({ config: file })).toThrow(ConfigError);
      expect(() => build({ config: file })).toThrow(/sources\.catalogue\.schedules\.0\.cron/);
    } finally {
      done();
    }
  });

  it('payment data kept less than five years (the law’s minimum is checked at synth too)', () => {
    const { file, done } = invalid((t) => t.replace('minimum: 5y', 'minimum: 1y'));
    try {
      expect(() => build({ config: file })).toThrow(/sources\.payments\.retention\.minimum/);
    } finally {
      done();
    }
  });

  it('a configuration too large for a Lambda environment', () => {
    const { file, done } = invalid((t) =>
      `${t}\n# padding\n`.replace(
        'paths: [./data/saves]',
        `paths: [${'./x,'.repeat(CONFIG_ENV_MAX_BYTES / 4)}./data/saves]`,
      ),
    );
    try {
      expect(() => build({ config: file })).toThrow(/Lambda environment/);
    } finally {
      done();
    }
  });

  it('a missing configuration file', () => {
    expect(() => build({ config: 'examples/nope.yaml' })).toThrow(/examples\/nope\.yaml.*cannot read/s);
  });

  it('an unknown environment, naming the known ones', () => {
    expect(() => build({ env: 'staging' })).toThrow(/no environment "staging".*dev, prod/);
  });

  it('bad environment settings, naming the field', () => {
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const broken = { ...environments, dev: { ...environments.dev, logRetentionDays: 10 } };
    expect(() => build({ environments: broken })).toThrow(DeploymentError);
    expect(() => build({ environments: broken })).toThrow(/environments\.dev: logRetentionDays/);
  });

  it('Object Lock with removal destroy (a locked bucket cannot be emptied)', () => {
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const broken = {
      ...environments,
      dev: { ...environments.dev, objectLock: { mode: 'GOVERNANCE', days: 1 } },
    };
    expect(() => build({ environments: broken })).toThrow(/objectLock with removal "destroy"/);
  });
});
