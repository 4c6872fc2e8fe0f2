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

  it.each([
    ['no auth: section', (t: string) => t.replace(/^auth:\n(?: {2}.*\n)+/m, ''), /no auth: section/],
    [
      'a JWKS file, which no function has',
      (t: string) => t.replace('jwks: https://id.example.org/.well-known/jwks.json', 'jwks: ./jwks.json'),
      /auth\.jwks: .* cannot read a JWKS file/,
    ],
    [
      'an issuer other than the gateway’s',
      (t: string) => t.replace('issuer: https://id.example.org\n', 'issuer: https://evil.example.net\n'),
      /auth\.issuer is "https:\/\/evil\.example\.net" but the gateway trusts/,
    ],
    [
      'an audience other than the gateway’s',
      (t: string) => t.replace('audience: zapas\n', 'audience: other\n'),
      /auth\.audience is "other" but the gateway expects "zapas"/,
    ],
  ])(
    'a configuration whose tokens the api function could not verify as the gateway does: %s',
    (_t, edit, why) => {
      const { file, done } = invalid(edit);
      try {
        expect(() => build({ config: file })).toThrow(DeploymentError);
        expect(() => build({ config: file })).toThrow(why);
      } finally {
        done();
      }
    },
  );

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

  describe('the HTTP API’s JWT authorizer settings', () => {
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const dev = (patch: Record<string, unknown>, drop?: string) => {
      const next: Record<string, unknown> = { ...environments.dev, ...patch };
      if (drop) delete next[drop];
      return { environments: { ...environments, dev: next } };
    };
    const auth = (issuer: unknown, audience: unknown = 'zapas') => dev({ auth: { issuer, audience } });

    it('no auth at all: refused, saying what to add', () => {
      expect(() => build(dev({}, 'auth'))).toThrow(DeploymentError);
      expect(() => build(dev({}, 'auth'))).toThrow(
        /context\.environments\.dev\.auth is missing.*"issuer": "https:\/\/.*"audience"/,
      );
    });

    it.each([
      ['http://id.example.org', /not https/],
      ['HTTP://id.example.org', /not https/],
      ['ftp://id.example.org', /not https/],
      ['id.example.org', /not a URL/],
      ['', /missing/],
      ['https://user:pw@id.example.org', /credentials/],
      ['https://id.example.org/?next=evil', /query or fragment/],
      ['https://id.example.org/#x', /query or fragment/],
      [42, /expected string/],
    ])('issuer %p: refused', (issuer, why) => {
      expect(() => build(auth(issuer))).toThrow(DeploymentError);
      expect(() => build(auth(issuer))).toThrow(/environments\.dev: auth\.issuer/);
      expect(() => build(auth(issuer))).toThrow(why);
    });

    it.each([[''], ['  '], ['a b'], ['x"y'], ['aud$x']])('audience %p: refused', (audience) => {
      expect(() => build(auth('https://id.example.org', audience))).toThrow(/auth\.audience/);
    });

    it('an unknown field under auth (a typo such as "issuers"): refused', () => {
      expect(() => build(dev({ auth: { issuers: 'https://id.example.org', audience: 'zapas' } }))).toThrow(
        /auth/,
      );
    });

    it('reserved concurrency for a stage the API does not start: refused, naming what it starts', () => {
      expect(() => build(dev({ api: { reservedConcurrency: { purge: 5 } } }))).toThrow(
        /api\.reservedConcurrency\.purge: the API does not start "purge" \(it starts: api\)/,
      );
    });

    it('throttling out of range: refused', () => {
      expect(() => build(dev({ api: { throttleBurstLimit: 0 } }))).toThrow(/api\.throttleBurstLimit/);
      expect(() => build(dev({ api: { throttleRateLimit: -1 } }))).toThrow(/api\.throttleRateLimit/);
    });
  });
});
