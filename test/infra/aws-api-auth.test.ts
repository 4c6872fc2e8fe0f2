import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { ACCESS_LOG_FIELDS } from '../../lib/infra/aws/http-api';
import { apiStartedStages } from '../../lib/infra/aws/reserved-concurrency';
import { DEFAULT_RESERVED_CONCURRENCY, DEFAULT_THROTTLE } from '../../lib/infra/aws/settings';
import { STAGES, type StageSpec } from '../../lib/infra/stages';
import {
  build,
  CDK_CONTEXT,
  logicalId,
  type Resource,
  ROOT,
  serviceOf,
  templates,
} from '../support/cdk-templates';

type Environments = Record<string, Record<string, unknown>>;
const environments = CDK_CONTEXT.environments as Environments;
const withDev = (dev: Record<string, unknown>) => ({
  environments: { ...environments, dev: { ...environments.dev, ...dev } },
});

describe('HTTP API: the JWT authorizer', () => {
  it.each(['dev', 'prod'] as const)(
    '%s: a JWT authorizer with the environment’s issuer and audience',
    (env) => {
      const { service } = templates(env);
      const auth = environments[env]!.auth as { issuer: string; audience: string };
      service.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
      service.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'JWT',
        IdentitySource: ['$request.header.Authorization'],
        JwtConfiguration: { Issuer: auth.issuer, Audience: [auth.audience] },
      });
    },
  );

  it('ANY /v1/{proxy+} goes through it; GET /v1/health has its own open route; no other route', () => {
    const { service } = templates('dev');
    const authorizer = logicalId(service, 'AWS::ApiGatewayV2::Authorizer', { AuthorizerType: 'JWT' });
    const routes = Object.values(service.findResources('AWS::ApiGatewayV2::Route')) as Resource[];
    const byKey = Object.fromEntries(routes.map((r) => [r.Properties.RouteKey as string, r.Properties]));
    expect(Object.keys(byKey).sort()).toEqual(['ANY /v1/{proxy+}', 'GET /v1/health']);
    expect(byKey['ANY /v1/{proxy+}']).toMatchObject({
      AuthorizationType: 'JWT',
      AuthorizerId: { Ref: authorizer },
    });
    expect(byKey['GET /v1/health']!.AuthorizationType).toBe('NONE');
    expect(byKey['GET /v1/health']).not.toHaveProperty('AuthorizerId');
    // Both reach the api function.
    expect(byKey['GET /v1/health']!.Target).toEqual(byKey['ANY /v1/{proxy+}']!.Target);
  });

  it('a different issuer and audience from the context land in the authorizer (the configuration names the same)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zapas-cdk-'));
    const config = join(dir, 'zapas.yaml');
    writeFileSync(
      config,
      readFileSync(join(ROOT, 'examples/zapas.yaml'), 'utf8')
        .replace('issuer: https://id.example.org\n', 'issuer: https://login.example.net/realm\n')
        .replace('audience: zapas\n', 'audience: ops\n'),
    );
    try {
      const { service } = build({
        ...withDev({ auth: { issuer: 'https://login.example.net/realm', audience: 'ops' } }),
        config,
      });
      Template.fromStack(service).hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        JwtConfiguration: { Issuer: 'https://login.example.net/realm', Audience: ['ops'] },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP API: throttling and access log', () => {
  it('dev: the default stage throttles at the documented defaults and logs every request as JSON', () => {
    const { service } = templates('dev');
    expect(environments.dev).not.toHaveProperty('api');
    const logs = logicalId(service, 'AWS::Logs::LogGroup', { LogGroupName: '/zapas/zapas-dev-api-access' });
    service.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/zapas/zapas-dev-api-access',
      RetentionInDays: environments.dev!.logRetentionDays,
    });
    service.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    service.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: DEFAULT_THROTTLE.rateLimit,
        ThrottlingBurstLimit: DEFAULT_THROTTLE.burstLimit,
      },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logs, 'Arn'] },
        Format: JSON.stringify(ACCESS_LOG_FIELDS),
      },
    });
    expect(JSON.stringify(ACCESS_LOG_FIELDS)).not.toMatch(/header|authorization/i);
  });

  it('the context’s rate and burst', () => {
    const { service } = build(withDev({ api: { throttleRateLimit: 7, throttleBurstLimit: 3 } }));
    Template.fromStack(service).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 7, ThrottlingBurstLimit: 3 },
    });
  });
});

describe('reserved concurrency on what the API starts', () => {
  const reservedOf = (t: Template) =>
    Object.fromEntries(
      (Object.values(t.findResources('AWS::Lambda::Function')) as Resource[])
        .filter((f) => typeof f.Properties.FunctionName === 'string')
        .map((f) => [f.Properties.FunctionName as string, f.Properties.ReservedConcurrentExecutions]),
    );

  it('the table: only api is started by a request (it writes the catalog and sends nothing)', () => {
    expect(apiStartedStages(STAGES).map((s) => s.name)).toEqual(['api']);
  });

  it('dev: api gets the default; the pipeline keeps the unreserved pool', () => {
    const { service } = templates('dev');
    expect(reservedOf(service)).toEqual({
      'zapas-dev-orchestrate': undefined,
      'zapas-dev-ingest': undefined,
      'zapas-dev-verify': undefined,
      'zapas-dev-purge': undefined,
      'zapas-dev-api': DEFAULT_RESERVED_CONCURRENCY,
    });
  });

  it('prod: the context’s value', () => {
    const prod = environments.prod!.api as { reservedConcurrency: Record<string, number> };
    templates('prod').service.hasResourceProperties('AWS::Lambda::Function', {
      FunctionName: 'zapas-prod-api',
      ReservedConcurrentExecutions: prod.reservedConcurrency.api,
    });
  });

  it('an api that sends to a queue also reserves for that queue’s consumer', () => {
    const table: StageSpec[] = STAGES.map((s) =>
      s.name === 'api' ? { ...s, grants: { ...s.grants, send: ['requests'] } } : s,
    );
    expect(apiStartedStages(table).map((s) => s.name)).toEqual(['orchestrate', 'api']);
    const reserved = reservedOf(Template.fromStack(serviceOf(table)));
    expect(reserved['zapas-dev-orchestrate']).toBe(DEFAULT_RESERVED_CONCURRENCY);
    expect(reserved['zapas-dev-api']).toBe(DEFAULT_RESERVED_CONCURRENCY);
    expect(reserved['zapas-dev-ingest']).toBeUndefined();
  });
});
