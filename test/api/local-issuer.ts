import {
  AUDIENCE,
  ISSUER,
  keySet,
  makeKey,
  signToken,
  type TestKey,
  type TokenSpec,
  writeKeySet,
} from '../security/token-kit';
import { makeTempDir } from '../support/temp';

export interface LocalIssuer {
  key: TestKey;
  /** The JWKS file holding the key's public half. */
  jwks: string;
  /** The configuration's `auth:` section for this issuer. */
  auth: { issuer: string; audience: string; jwks: string };
  /** `Bearer <token>` signed by the key, with these claims (sub `alice` unless given). */
  bearer(claims: TokenSpec['claims'], spec?: Omit<TokenSpec, 'claims'>): Promise<string>;
  /** Writes the key set again (after a test broke the file). */
  restore(): Promise<void>;
}

/** A token issuer for tests: an ES256 key and its JWKS file in `dir` (default: a new temporary folder). */
export async function localIssuer(dir?: string): Promise<LocalIssuer> {
  const key = await makeKey('ES256');
  const folder = dir ?? (await makeTempDir('zapas-issuer-'));
  const jwks = await writeKeySet(folder, keySet(key));
  return {
    key,
    jwks,
    auth: { issuer: ISSUER, audience: AUDIENCE, jwks },
    bearer: async (claims, spec = {}) => `Bearer ${await signToken(key, { ...spec, claims })}`,
    restore: async () => void (await writeKeySet(folder, keySet(key))),
  };
}
