/**
 * Bearer tokens: a signed JWT in `Authorization: Bearer …`, verified against the configured issuer's
 * public keys (docs/security.md, "Tokens"), and turned into the Principal the permission table judges.
 * A refusal says what is wrong and never repeats the token or any part of it: error messages end up in
 * logs and answers, and a token in a log is a credential anyone reading it can use.
 */
import { resolve } from 'node:path';
import { errors, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions, jwtVerify } from 'jose';
import { type KeySetOptions, KeySetUnavailableError, openKeySet } from './jwks';
import { isRole, type Principal, type Role } from './principal';
import { type AuthSettings, jwksLocation } from './settings';

export { KeySetUnavailableError } from './jwks';

/** The only signature algorithms accepted: `none` and every HMAC (HS256, …) are refused. */
export const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;

/**
 * How far the clocks of the issuer and of zapas may disagree: a token is still accepted this many
 * seconds after its `exp`, and this many seconds before its `nbf`.
 */
export const CLOCK_TOLERANCE_SECONDS = 30;

/** Longest token read: real ones are 1–2 KiB; anything longer is refused before it is parsed. */
export const MAX_TOKEN_CHARS = 8192;

/** What is wrong with a refused request's credentials. */
export type AuthenticationProblem =
  | 'missing'
  | 'not-bearer'
  | 'malformed'
  | 'algorithm-not-allowed'
  | 'unknown-key'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'bad-claims';

const MESSAGES: Record<AuthenticationProblem, string> = {
  missing: 'no bearer token: send Authorization: Bearer <token>',
  'not-bearer': 'the Authorization header is not of the Bearer scheme',
  malformed: 'the bearer token is malformed',
  'algorithm-not-allowed': `the token's signature algorithm is not allowed (only ${ALGORITHMS.join(', ')})`,
  'unknown-key': "the token's signing key is not one of the issuer's keys",
  'bad-signature': "the token's signature does not verify",
  expired: 'the token has expired',
  'not-yet-valid': 'the token is not valid yet',
  'wrong-issuer': 'the token is from another issuer',
  'wrong-audience': 'the token is for another audience',
  'bad-claims': "the token's claims are not usable",
};

/** A request whose credentials are missing or wrong (an API answers 401). */
export class AuthenticationError extends Error {
  override readonly name = 'AuthenticationError';
  constructor(
    readonly problem: AuthenticationProblem,
    /** Which part is wrong, in zapas's own words: never a value taken from the token. */
    detail?: string,
  ) {
    super(detail ? `${MESSAGES[problem]}: ${detail}` : MESSAGES[problem]);
  }
}

/** Verifies bearer tokens of one issuer and audience against its key set. */
export class TokenVerifier {
  private readonly options: JWTVerifyOptions;

  private constructor(
    settings: Pick<AuthSettings, 'issuer' | 'audience'>,
    private readonly keys: JWTVerifyGetKey,
  ) {
    this.options = {
      issuer: settings.issuer,
      audience: settings.audience,
      algorithms: [...ALGORITHMS],
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ['exp', 'sub'],
    };
  }

  /**
   * A verifier for the configuration's `auth:`; a relative JWKS path is taken from `baseDir` (the
   * configuration file's folder). A JWKS file is read now: a missing or wrong one throws here.
   */
  static fromSettings(settings: AuthSettings, baseDir: string, options: KeySetOptions = {}): TokenVerifier {
    const location = jwksLocation(settings.jwks);
    const keys = openKeySet(
      location.kind === 'file' ? { kind: 'file', path: resolve(baseDir, location.path) } : location,
      options,
    );
    return new TokenVerifier(settings, keys);
  }

  /**
   * The principal an `Authorization` header's bearer token proves. Throws AuthenticationError when the
   * token is missing or not acceptable, KeySetUnavailableError when the issuer's keys cannot be had.
   */
  async verify(authorization: string | undefined): Promise<Principal> {
    return principalOf(await this.claims(bearerToken(authorization)));
  }

  private async claims(token: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, this.keys, this.options)).payload;
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw refusal(err);
      // Several keys fit a token without `kid`: the one its signature verifies with.
      for await (const key of err) {
        try {
          return (await jwtVerify(token, key, this.options)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw refusal(inner);
        }
      }
      throw new AuthenticationError('bad-signature');
    }
  }
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The token of an `Authorization: Bearer <token>` header (the scheme's name in any case, RFC 7235). */
function bearerToken(header: string | undefined): string {
  const text = header?.trim() ?? '';
  if (text === '') throw new AuthenticationError('missing');
  const [, scheme, rest] = /^(\S+)(?:[ \t]+([\s\S]*))?$/.exec(text) ?? [];
  if (scheme?.toLowerCase() !== 'bearer') throw new AuthenticationError('not-bearer');
  const token = rest?.trim() ?? '';
  if (token === '') throw new AuthenticationError('missing', 'nothing after "Bearer"');
  if (token.length > MAX_TOKEN_CHARS)
    throw new AuthenticationError('malformed', `longer than ${MAX_TOKEN_CHARS} characters`);
  if (!COMPACT_JWS.test(token))
    throw new AuthenticationError('malformed', 'not a signed JWT (three base64url parts joined by dots)');
  return token;
}

/** Why jose refused a token, in zapas's words (jose's errors carry the claims: never passed on). */
function refusal(err: unknown): Error {
  if (err instanceof AuthenticationError || err instanceof KeySetUnavailableError) return err;
  if (err instanceof errors.JWTExpired) return new AuthenticationError('expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return new AuthenticationError('not-yet-valid');
    if (err.claim === 'iss') return new AuthenticationError('wrong-issuer');
    if (err.claim === 'aud') return new AuthenticationError('wrong-audience');
    return new AuthenticationError(
      'bad-claims',
      err.reason === 'missing' ? `no "${err.claim}" claim` : `the "${err.claim}" claim is not valid`,
    );
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new AuthenticationError('algorithm-not-allowed');
  if (err instanceof errors.JWKSNoMatchingKey) return new AuthenticationError('unknown-key');
  if (err instanceof errors.JWSSignatureVerificationFailed) return new AuthenticationError('bad-signature');
  if (err instanceof errors.JWKInvalid || err instanceof errors.JWKSInvalid)
    return new KeySetUnavailableError('a key of the key set is not usable');
  if (err instanceof errors.JOSEError) return new AuthenticationError('malformed');
  return err instanceof Error ? err : new Error(String(err));
}

/** The claims as a principal: `sub`, the known `roles`, and for a service its `sources`. */
function principalOf(payload: JWTPayload): Principal {
  const { sub, iss, jti, exp } = payload;
  if (typeof sub !== 'string' || sub === '')
    throw new AuthenticationError('bad-claims', 'the "sub" claim is not a non-empty string');
  const roles = [...new Set(stringList(payload.roles, 'roles').filter(isRole))] as Role[];
  const principal: Principal = { kind: 'token', subject: sub, roles };
  if (roles.includes('service')) principal.sources = [...new Set(stringList(payload.sources, 'sources'))];
  if (typeof iss === 'string') principal.issuer = iss;
  if (typeof jti === 'string') principal.tokenId = jti;
  if (typeof exp === 'number') principal.expiresAt = exp;
  return principal;
}

/** A claim that is a list of strings; absent: an empty list. */
function stringList(value: unknown, claim: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
    throw new AuthenticationError('bad-claims', `the "${claim}" claim is not a list of strings`);
  return value;
}
