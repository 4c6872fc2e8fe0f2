/**
 * The HTTP API's token check, as both deployments configure it: a JWT authorizer in front of every route
 * but the health probe, trusting one OpenID Connect issuer for one audience. The api function verifies
 * tokens too; the gateway's check keeps unauthenticated callers from starting it at all.
 */

/** The route left open for load balancers and uptime probes: it reads nothing and starts nothing. */
export const HEALTH_PATH = '/v1/health';

export interface ApiAuth {
  /** The issuer (`iss`), an https URL; AWS finds its keys through `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  /** The audience (`aud`) a token must name. */
  audience: string;
}

/**
 * Why `value` cannot be trusted as an issuer or key URL, or undefined when it can: an absolute https URL
 * with a host, no credentials, query or fragment (API Gateway appends the discovery path to the issuer).
 */
export function httpsUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'missing: an https:// URL';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL`;
  }
  if (url.protocol !== 'https:') return `"${value}" is not https: tokens and keys must come over TLS`;
  if (!url.hostname) return `"${value}" has no host`;
  if (url.username || url.password) return `"${value}" carries credentials`;
  if (url.search || url.hash) return `"${value}" has a query or fragment`;
  return undefined;
}

/** Why `value` cannot be an audience, or undefined. */
export function audienceProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return 'missing: the token audience (aud)';
  if (/[\s"'\\$]/.test(value)) return `"${value}" has whitespace, quotes, backslashes or $`;
  return undefined;
}
