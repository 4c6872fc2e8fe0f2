/**
 * The HTTP entry: a Yandex API Gateway whose OpenAPI 3 spec sends every method on `/v1` and `/v1/{proxy+}`
 * (a greedy parameter: any depth) to the stage with an `http` trigger, invoked as that stage's trigger
 * account, in the AWS-compatible 1.0 payload format that normalizeEvent reads. Going through the gateway
 * (not a direct function call) keeps the `Authorization` header, which direct calls strip.
 */
import type { StageSpec } from '../stages';
import { resourceName } from '../stages';
import { DeploymentError } from './errors';
import { ONE, PREFIX, REF, TYPE, triggerAccount } from './resources';
import type { TerraformDocument } from './terraform-json';

export const API_BASE_PATH = '/v1';
/** The request and answer shape of AWS API Gateway's payload 1.0 (lib/pipeline/events/normalize.ts). */
export const PAYLOAD_FORMAT_VERSION = '1.0';

/** The gateway's OpenAPI spec (JSON, which the gateway reads as YAML), with the function's id interpolated. */
export function gatewaySpec(stage: string): string {
  const integration = {
    type: 'cloud_functions',
    function_id: REF.functionId(stage),
    service_account_id: REF.accountId(triggerAccount(stage)),
    payload_format_version: PAYLOAD_FORMAT_VERSION,
  };
  const responses = { default: { description: `the ${stage} function's answer` } };
  return JSON.stringify(
    {
      openapi: '3.0.0',
      info: { title: 'zapas API', version: '1.0.0' },
      paths: {
        [API_BASE_PATH]: {
          'x-yc-apigateway-any-method': { 'x-yc-apigateway-integration': integration, responses },
        },
        [`${API_BASE_PATH}/{proxy+}`]: {
          'x-yc-apigateway-any-method': {
            parameters: [{ name: 'proxy', in: 'path', required: true, schema: { type: 'string' } }],
            'x-yc-apigateway-integration': integration,
            responses,
          },
        },
      },
    },
    null,
    2,
  );
}

/** Adds the gateway for the stage with an `http` trigger; there may be one such stage at most. */
export function addGateway(doc: TerraformDocument, stages: readonly StageSpec[]): void {
  const http = stages.filter((s) => s.triggers.some((t) => t.kind === 'http'));
  if (http.length > 1)
    throw new DeploymentError(
      `stages ${http.map((s) => s.name).join(', ')} all have an http trigger; the gateway routes ${API_BASE_PATH} to one`,
    );
  const stage = http[0];
  if (!stage) return;
  doc.resource(TYPE.gateway, ONE.gateway, {
    name: resourceName(PREFIX, 'api'),
    description: `zapas: ${API_BASE_PATH} → ${stage.name}`,
    spec: gatewaySpec(stage.name),
  });
}
