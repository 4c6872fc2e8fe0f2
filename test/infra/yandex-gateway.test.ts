import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIENCE_PATTERN, HTTPS_URL_PATTERN } from '../../lib/infra/auth';
import { STAGES } from '../../lib/infra/stages';
import { DeploymentError } from '../../lib/infra/yandex/errors';
import { AUTH_VARIABLES, type GatewayAuth, JWT_SCHEME } from '../../lib/infra/yandex/gateway';
import { writeYandexDeployment, yandexTerraform } from '../../lib/infra/yandex/terraform-writer';
import { parseConfig } from '../../lib/pipeline/config/load';
import { useTempDir } from '../support/temp';

// biome-ignore lint/suspicious/noExplicitAny: the Terraform document and the spec are JSON, checked field by field
type Tf = any;

const EXAMPLE = join(__dirname, '..', '..', 'examples', 'zapas.yaml');
const config = parseConfig(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
const AUTH: GatewayAuth = {
  issuer: 'https://id.example.org/realms/zapas',
  audience: 'zapas',
  jwksUri: 'https://id.example.org/realms/zapas/protocol/openid-connect/certs',
};
/** A Terraform interpolation (after `before`), as the document writes it. */
const tf = (before: string, expression?: string) =>
  expression === undefined ? `\${${before}}` : `${before}\${${expression}}`;
const build = (auth?: GatewayAuth): Tf =>
  yandexTerraform({ config, prefix: 'zapas', objectLock: false, auth }).document;
const specOf = (doc: Tf) => JSON.parse(doc.resource.yandex_api_gateway.api.spec);

/** Every operation of the spec: [path, method key, operation]. */
function operations(spec: Tf): Array<[string, string, Tf]> {
  const methods = [
    'get',
    'put',
    'post',
    'delete',
    'options',
    'head',
    'patch',
    'trace',
    'x-yc-apigateway-any-method',
  ];
  return Object.entries<Tf>(spec.paths).flatMap(([path, item]) =>
    Object.entries<Tf>(item)
      .filter(([key]) => methods.includes(key))
      .map(([key, op]): [string, string, Tf] => [path, key, op]),
  );
}

describe('Yandex API gateway: the JWT authorizer', () => {
  const spec = specOf(build(AUTH));

  it('a jwt authorizer in an openIdConnect scheme: the variables’ JWKS, issuer and audience, the bearer header', () => {
    expect(spec.components.securitySchemes[JWT_SCHEME]).toEqual({
      type: 'openIdConnect',
      'x-yc-apigateway-authorizer': {
        type: 'jwt',
        jwksUri: tf('var.api_jwt_jwks_uri'),
        issuers: [tf('var.api_jwt_issuer')],
        audiences: [tf('var.api_jwt_audience')],
        identitySource: { in: 'header', name: 'Authorization', prefix: 'Bearer ' },
        jwkTtlInSeconds: 300,
      },
    });
  });

  it('every operation but GET /v1/health requires it; GET /v1/health is open and reaches the api function', () => {
    const ops = operations(spec);
    expect(ops.map(([path, method]) => `${method} ${path}`).sort()).toEqual([
      'get /v1/health',
      'x-yc-apigateway-any-method /v1',
      'x-yc-apigateway-any-method /v1/health',
      'x-yc-apigateway-any-method /v1/{proxy+}',
    ]);
    for (const [path, method, op] of ops) {
      expect(op['x-yc-apigateway-integration'].function_id).toBe(tf('yandex_function.api.id'));
      if (path === '/v1/health' && method === 'get') expect(op).not.toHaveProperty('security');
      else expect([path, method, op.security]).toEqual([path, method, [{ [JWT_SCHEME]: [] }]]);
    }
    expect(spec).not.toHaveProperty('security');
  });

  it('settings given are the variables’ defaults, each with its validation', () => {
    const doc = build(AUTH);
    expect(doc.variable[AUTH_VARIABLES.issuer].default).toBe(AUTH.issuer);
    expect(doc.variable[AUTH_VARIABLES.audience].default).toBe(AUTH.audience);
    expect(doc.variable[AUTH_VARIABLES.jwksUri].default).toBe(AUTH.jwksUri);
    expect(doc.variable[AUTH_VARIABLES.issuer].validation.condition).toBe(
      tf(`can(regex("${HTTPS_URL_PATTERN}", var.api_jwt_issuer))`),
    );
    expect(doc.variable[AUTH_VARIABLES.jwksUri].validation.condition).toBe(
      tf(`can(regex("${HTTPS_URL_PATTERN}", var.api_jwt_jwks_uri))`),
    );
    expect(doc.variable[AUTH_VARIABLES.audience].validation.condition).toBe(
      tf(`can(regex("${AUDIENCE_PATTERN}", var.api_jwt_audience))`),
    );
    // The patterns go into an HCL string unescaped: nothing in them may end it, escape or template.
    for (const p of [HTTPS_URL_PATTERN, AUDIENCE_PATTERN]) expect(p).not.toMatch(/["\\]|[%$]\{/);
  });

  it('without the settings the variables have no default: terraform refuses to plan until they are set', () => {
    const doc = build();
    for (const name of Object.values(AUTH_VARIABLES)) {
      expect(doc.variable[name]).toBeDefined();
      expect(doc.variable[name]).not.toHaveProperty('default');
    }
    // The spec is the same: the authorizer is never left out.
    expect(specOf(doc)).toEqual(spec);
  });

  it('the validation pattern takes real issuers and refuses the rest', () => {
    const url = new RegExp(HTTPS_URL_PATTERN);
    for (const ok of [
      AUTH.issuer!,
      AUTH.jwksUri!,
      'https://id.example.org',
      'https://login.example.net:8443/a/b',
    ])
      expect([ok, url.test(ok)]).toEqual([ok, true]);
    for (const bad of [
      'http://id.example.org',
      'https://u:p@id.example.org',
      'https://x/?a=1',
      'https://x/#f',
      tf('https://x/', 'var.y'),
      'https://x/ a',
    ])
      expect([bad, url.test(bad)]).toEqual([bad, false]);
  });

  it.each<[Partial<GatewayAuth>, RegExp]>([
    [{ issuer: 'http://id.example.org' }, /issuer: "http:\/\/id\.example\.org" is not https/],
    [{ jwksUri: 'https://id.example.org/certs?x=1' }, /jwksUri: .*query or fragment/],
    [{ jwksUri: 'ftp://id.example.org/certs' }, /jwksUri: .*not https/],
    [{ issuer: tf('https://id.example.org/', 'var.cloud_id') }, /issuer: .*characters/],
    [{ audience: '' }, /audience: missing/],
    [{ audience: 'a"b' }, /audience: .*not a name or URI/],
    [{ issuer: '' }, /issuer: missing/],
  ])('refuses %p, naming the setting', (patch, why) => {
    const run = () => build({ ...AUTH, ...patch });
    expect(run).toThrow(DeploymentError);
    expect(run).toThrow(/the API gateway's JWT authorizer/);
    expect(run).toThrow(why);
  });

  it('no http stage, no gateway and no auth variables', () => {
    const doc: Tf = yandexTerraform({
      config,
      prefix: 'zapas',
      objectLock: false,
      stages: STAGES.filter((s) => s.name !== 'api'),
    }).document;
    expect(doc.resource.yandex_api_gateway).toBeUndefined();
    for (const name of Object.values(AUTH_VARIABLES)) expect(doc.variable[name]).toBeUndefined();
  });

  it('the authorizer adds no IAM grant: the gateway still invokes the function as the api trigger account only', () => {
    const withAuth = build(AUTH).resource;
    const without = build().resource;
    for (const type of Object.keys(withAuth).filter((t) => t.includes('iam')))
      expect(withAuth[type]).toEqual(without[type]);
  });
});

describe('writeYandexDeployment passes the settings on', () => {
  const tmp = useTempDir('zapas-gateway-');

  it('main.tf.json has them as the variables’ defaults', async () => {
    const dist = join(tmp(), 'dist');
    for (const stage of STAGES) {
      await mkdir(join(dist, 'functions', stage.name), { recursive: true });
      await writeFile(
        join(dist, 'functions', stage.name, 'index.cjs'),
        'exports.handler = async () => ({});\n',
      );
    }
    const out = join(tmp(), 'out');
    // The configuration trusts the same issuer as the gateway: the api function checks tokens again.
    const configFile = join(tmp(), 'zapas.yaml');
    await writeFile(
      configFile,
      readFileSync(EXAMPLE, 'utf8')
        .replace('issuer: https://id.example.org\n', `issuer: ${AUTH.issuer}\n`)
        .replace('audience: zapas\n', `audience: ${AUTH.audience}\n`),
    );
    const write = (auth?: GatewayAuth, file = configFile) =>
      writeYandexDeployment({
        outDir: out,
        distRoot: dist,
        configFile: file,
        prefix: 'zapas',
        objectLock: false,
        ...(auth ? { auth } : {}),
      });
    await write(AUTH);
    const doc = JSON.parse(await readFile(join(out, 'main.tf.json'), 'utf8'));
    expect(doc.variable.api_jwt_issuer.default).toBe(AUTH.issuer);
    expect(doc.variable.api_jwt_jwks_uri.default).toBe(AUTH.jwksUri);
    expect(doc.variable.api_jwt_audience.default).toBe(AUTH.audience);

    // Without settings of its own, the gateway trusts what the configuration's auth: names.
    await write(undefined, EXAMPLE);
    const fromConfig = JSON.parse(await readFile(join(out, 'main.tf.json'), 'utf8'));
    expect(fromConfig.variable.api_jwt_issuer.default).toBe('https://id.example.org');
    expect(fromConfig.variable.api_jwt_jwks_uri.default).toBe('https://id.example.org/.well-known/jwks.json');

    // A gateway trusting another issuer than the function, or a configuration without auth: refused.
    await expect(write(AUTH, EXAMPLE)).rejects.toThrow(
      /auth\.issuer is "https:\/\/id\.example\.org" but the gateway trusts/,
    );
    const open = join(tmp(), 'open.yaml');
    await writeFile(open, readFileSync(EXAMPLE, 'utf8').replace(/^auth:\n(?: {2}.*\n)+/m, ''));
    await expect(write(undefined, open)).rejects.toThrow(DeploymentError);
    await expect(write(undefined, open)).rejects.toThrow(/no auth: section/);
  });
});
