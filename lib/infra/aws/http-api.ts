/**
 * The service's HTTP API: every route behind a JWT authorizer that trusts the environment's issuer and
 * audience, except `GET /v1/health`, which probes reach without a token. API Gateway finds the issuer's
 * signing keys itself, from `<issuer>/.well-known/openid-configuration` (its `jwks_uri`), and answers 401
 * before the function starts when a token is missing, expired, badly signed or for another audience.
 * The stage throttles (rate and burst from the environment) and writes an access log; the functions the
 * API can start have reserved concurrency (service-stack.ts), so a flood cannot take the account's
 * concurrency from the pipeline.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { HEALTH_PATH } from '../auth';
import { resourceName } from '../stages';
import { DEFAULT_THROTTLE, type EnvironmentSettings } from './settings';

/** The API's routes: everything under /v1 goes to the stage (lib/api routes it further). */
export const API_ROUTE = '/v1/{proxy+}';

/**
 * One JSON line per request: who (source address, the token's subject), what, the answer, and why a
 * request was turned away (the authorizer's or the integration's error). No header and no token.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  time: '$context.requestTime',
  method: '$context.httpMethod',
  path: '$context.path',
  route: '$context.routeKey',
  status: '$context.status',
  bytes: '$context.responseLength',
  sub: '$context.authorizer.claims.sub',
  authorizerError: '$context.authorizer.error',
  integrationError: '$context.integrationErrorMessage',
} as const;

export class ServiceApi extends Construct {
  readonly api: apigw.HttpApi;
  readonly stage: apigw.HttpStage;
  readonly accessLogs: logs.LogGroup;
  private readonly authorizer: HttpJwtAuthorizer;

  constructor(scope: Construct, id: string, settings: EnvironmentSettings) {
    super(scope, id);
    this.api = new apigw.HttpApi(this, 'Api', {
      apiName: resourceName(settings.prefix, 'api'),
      description: 'zapas REST API /v1',
      // The default stage is made below, with throttling and an access log.
      createDefaultStage: false,
    });
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      logGroupName: `/zapas/${resourceName(settings.prefix, 'api')}-access`,
      retention: settings.logRetentionDays as logs.RetentionDays,
      removalPolicy: settings.removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stage = this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: settings.api?.throttleRateLimit ?? DEFAULT_THROTTLE.rateLimit,
        burstLimit: settings.api?.throttleBurstLimit ?? DEFAULT_THROTTLE.burstLimit,
      },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.authorizer = new HttpJwtAuthorizer('Jwt', settings.auth.issuer, {
      authorizerName: resourceName(settings.prefix, 'jwt'),
      jwtAudience: [settings.auth.audience],
    });
  }

  /** Routes /v1/{proxy+} (any method, behind the authorizer) and GET /v1/health (open) to `fn`. */
  route(id: string, fn: lambda.IFunction): void {
    const integration = new HttpLambdaIntegration(id, fn);
    this.api.addRoutes({
      path: API_ROUTE,
      methods: [apigw.HttpMethod.ANY],
      integration,
      authorizer: this.authorizer,
    });
    // API Gateway picks the most specific route: GET /v1/health wins over the greedy one, any other
    // method on /v1/health still goes through the authorizer.
    const [health] = this.api.addRoutes({
      path: HEALTH_PATH,
      methods: [apigw.HttpMethod.GET],
      integration,
    });
    NagSuppressions.addResourceSuppressions(health!, [
      {
        id: 'AwsSolutions-APIG4',
        reason: `${HEALTH_PATH} is open on purpose, for load balancers and uptime probes: it answers liveness (ok, how many sources and running jobs), names no source, reads no catalog entry and starts nothing`,
      },
    ]);
  }
}
