/**
 * The HTTP API's token check, as both deployments configure it: a JWT authorizer in front of every route
 * but the health probe, trusting one OpenID Connect issuer for one audience. The api function verifies
 * tokens too; the gateway's check keeps unauthenticated callers from starting it at all.
 */

/** The route left open for load balancers and uptime probes. */
export const HEALTH_PATH = '/v1/health';

/**
 * What an issuer or key URL may look like: https, a host (and port), a path of plain URL characters — no
 * credentials, query, fragment, whitespace, quotes, backslashes, `$`, `{` or `}` (Terraform's templates).
 * A string, not a RegExp: the Yandex writer puts the same pattern in the variables' validation (RE2).
 */
export const HTTPS_URL_PATTERN = '^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~%!&()*+,;=:/-]*)?$';
/** What an audience may look like: a name or a URI. */
export const AUDIENCE_PATTERN = '^[A-Za-z0-9._~:/-]+$';

/** Why `value` cannot be trusted as an issuer or key URL, or undefined when it can. */
export function httpsUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'missing: an https:// URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL`;
  }
  if (url.protocol !== 'https:') return `"${value}" is not https: tokens and keys must come over TLS`;
  if (url.username || url.password) return `"${value}" carries credentials`;
  if (url.search || url.hash || value.includes('?') || value.includes('#'))
    return `"${value}" has a query or fragment`;
  if (!new RegExp(HTTPS_URL_PATTERN).test(value))
    return `"${value}" has characters a URL here may not (whitespace, quotes, backslashes, $, { or })`;
  return undefined;
}

/** Why `value` cannot be an audience, or undefined. */
export function audienceProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return 'missing: the token audience (aud)';
  if (!new RegExp(AUDIENCE_PATTERN).test(value))
    return `"${value}" is not a name or URI (letters, digits and . _ ~ : / - only)`;
  return undefined;
}

/** What the deployments read of the configuration's `auth:` section (the api function verifies tokens with it). */
export interface ConfigAuth {
  issuer: string;
  audience: string;
  jwks: string;
}

/**
 * Why the configuration cannot be deployed to a cloud as far as tokens go, or undefined: the api function
 * verifies every token itself (the gateway is not the only lock), so the configuration must say whose
 * tokens to trust, and their keys must be at an https URL (a JWKS file beside zapas.yaml is not in the
 * function). When the gateway's settings are given too, they must name the same issuer and audience.
 */
export function cloudAuthProblem(
  auth: ConfigAuth | undefined,
  gateway?: { issuer?: string; audience?: string },
): string | undefined {
  if (!auth)
    return 'the configuration has no auth: section; the api function verifies every token itself, so set auth: { issuer, audience, jwks: https://… } (docs/security.md)';
  const jwks = httpsUrlProblem(auth.jwks);
  if (jwks) return `auth.jwks: ${jwks} (a cloud function cannot read a JWKS file beside the configuration)`;
  if (gateway?.issuer !== undefined && gateway.issuer !== auth.issuer)
    return `auth.issuer is "${auth.issuer}" but the gateway trusts "${gateway.issuer}": they must be the same issuer`;
  if (gateway?.audience !== undefined && gateway.audience !== auth.audience)
    return `auth.audience is "${auth.audience}" but the gateway expects "${gateway.audience}": they must be the same`;
  return undefined;
}
