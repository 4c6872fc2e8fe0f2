/**
 * The HTTP entry: a Yandex API Gateway whose OpenAPI 3 spec sends every method on `/v1` and `/v1/{proxy+}`
 * (a greedy parameter: any depth) to the stage with an `http` trigger, invoked as that stage's trigger
 * account, in the AWS-compatible 1.0 payload format that normalizeEvent reads. Going through the gateway
 * (not a direct function call) keeps the `Authorization` header, which direct calls strip.
 *
 * Every operation but `GET /v1/health` carries the JWT authorizer (`x-yc-apigateway-authorizer` of type
 * `jwt`): the gateway checks the bearer token's signature against the issuer's JWKS, its `iss`, `aud` and
 * expiry, and answers 401 before the function is invoked. Issuer, audience and JWKS URI are Terraform
 * variables whose defaults come from the writer's input; one that is not given has no default, so
 * `terraform plan` refuses to go on without it.
 */
import { AUDIENCE_PATTERN, audienceProblem, HEALTH_PATH, HTTPS_URL_PATTERN, httpsUrlProblem } from '../auth';
import type { StageSpec } from '../stages';
import { resourceName } from '../stages';
import { DeploymentError } from './errors';
import { ONE, PREFIX, REF, TYPE, triggerAccount } from './resources';
import { expr, type TerraformDocument, type TfBlock } from './terraform-json';

export const API_BASE_PATH = '/v1';
/** The request and answer shape of AWS API Gateway's payload 1.0 (lib/pipeline/events/normalize.ts). */
export const PAYLOAD_FORMAT_VERSION = '1.0';
/** The security scheme's name in the spec. */
export const JWT_SCHEME = 'zapasJwt';
/** How long the gateway keeps the issuer's public keys (without it, it fetches them on every request). */
export const JWKS_CACHE_SECONDS = 300;

/** The token check's settings: each one given becomes its variable's default (the CLI's or a caller's). */
export interface GatewayAuth {
  /** The tokens' `iss`, exactly (an https URL). */
  issuer?: string;
  /** The `aud` a token must name. */
  audience?: string;
  /** The issuer's JWKS (its discovery document's `jwks_uri`), an https URL. */
  jwksUri?: string;
}

/** The Terraform variables of the token check, by setting. */
export const AUTH_VARIABLES = {
  issuer: 'api_jwt_issuer',
  audience: 'api_jwt_audience',
  jwksUri: 'api_jwt_jwks_uri',
} as const satisfies Record<keyof GatewayAuth, string>;

/** Refuses a given setting the gateway could not trust; returns nothing. */
export function checkGatewayAuth(auth: GatewayAuth): void {
  const problems = [
    auth.issuer === undefined ? undefined : ['issuer', httpsUrlProblem(auth.issuer)],
    auth.jwksUri === undefined ? undefined : ['jwksUri', httpsUrlProblem(auth.jwksUri)],
    auth.audience === undefined ? undefined : ['audience', audienceProblem(auth.audience)],
  ].filter((p): p is [string, string] => p?.[1] !== undefined);
  if (problems.length > 0)
    throw new DeploymentError(
      `the API gateway's JWT authorizer: ${problems.map(([k, why]) => `${k}: ${why}`).join('; ')}`,
    );
}

/** The gateway's OpenAPI spec (JSON, which the gateway reads as YAML), with the function's id interpolated. */
export function gatewaySpec(stage: string): string {
  const integration = {
    type: 'cloud_functions',
    function_id: REF.functionId(stage),
    service_account_id: REF.accountId(triggerAccount(stage)),
    payload_format_version: PAYLOAD_FORMAT_VERSION,
  };
  const responses = { default: { description: `the ${stage} function's answer` } };
  const security = [{ [JWT_SCHEME]: [] }];
  const authorized = { security, 'x-yc-apigateway-integration': integration, responses };
  return JSON.stringify(
    {
      openapi: '3.0.0',
      info: { title: 'zapas API', version: '1.0.0' },
      paths: {
        [API_BASE_PATH]: { 'x-yc-apigateway-any-method': authorized },
        // GET is open for probes; any other method on the path (any-method: those not listed) is not.
        [HEALTH_PATH]: {
          get: { 'x-yc-apigateway-integration': integration, responses },
          'x-yc-apigateway-any-method': authorized,
        },
        [`${API_BASE_PATH}/{proxy+}`]: {
          'x-yc-apigateway-any-method': {
            parameters: [{ name: 'proxy', in: 'path', required: true, schema: { type: 'string' } }],
            ...authorized,
          },
        },
      },
      components: {
        securitySchemes: {
          [JWT_SCHEME]: {
            type: 'openIdConnect',
            'x-yc-apigateway-authorizer': {
              type: 'jwt',
              jwksUri: expr(`var.${AUTH_VARIABLES.jwksUri}`),
              issuers: [expr(`var.${AUTH_VARIABLES.issuer}`)],
              audiences: [expr(`var.${AUTH_VARIABLES.audience}`)],
              identitySource: { in: 'header', name: 'Authorization', prefix: 'Bearer ' },
              jwkTtlInSeconds: JWKS_CACHE_SECONDS,
            },
          },
        },
      },
    },
    null,
    2,
  );
}

/** The three variables; a setting that is given is its default, one that is not must be set at apply. */
function addAuthVariables(doc: TerraformDocument, auth: GatewayAuth): void {
  // The patterns hold no backslash, quote, `$` or `{`: they go into an HCL string as they are.
  const matches = (pattern: string, key: keyof GatewayAuth, what: string): TfBlock => ({
    condition: expr(`can(regex("${pattern}", var.${AUTH_VARIABLES[key]}))`),
    error_message: `${AUTH_VARIABLES[key]}: ${what}.`,
  });
  const variable = (key: keyof GatewayAuth, description: string, validation: TfBlock) =>
    doc.variable(AUTH_VARIABLES[key], {
      type: 'string',
      description,
      ...(auth[key] !== undefined && { default: auth[key] }),
      validation,
    });
  const url = 'an https:// URL without credentials, query or fragment';
  variable(
    'issuer',
    'the API gateway trusts tokens whose iss is exactly this OpenID Connect issuer',
    matches(HTTPS_URL_PATTERN, 'issuer', `the issuer, ${url}`),
  );
  variable(
    'audience',
    'the aud a token must name',
    matches(AUDIENCE_PATTERN, 'audience', 'the token audience, a name or URI'),
  );
  variable(
    'jwksUri',
    "the issuer's public keys (jwks_uri of <issuer>/.well-known/openid-configuration)",
    matches(HTTPS_URL_PATTERN, 'jwksUri', `the JWKS URI, ${url}`),
  );
}

/** Adds the gateway for the stage with an `http` trigger; there may be one such stage at most. */
export function addGateway(
  doc: TerraformDocument,
  stages: readonly StageSpec[],
  auth: GatewayAuth = {},
): void {
  const http = stages.filter((s) => s.triggers.some((t) => t.kind === 'http'));
  if (http.length > 1)
    throw new DeploymentError(
      `stages ${http.map((s) => s.name).join(', ')} all have an http trigger; the gateway routes ${API_BASE_PATH} to one`,
    );
  const stage = http[0];
  if (!stage) return;
  checkGatewayAuth(auth);
  addAuthVariables(doc, auth);
  doc.resource(TYPE.gateway, ONE.gateway, {
    name: resourceName(PREFIX, 'api'),
    description: `zapas: ${API_BASE_PATH} → ${stage.name}`,
    spec: gatewaySpec(stage.name),
  });
}
