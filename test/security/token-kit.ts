/**
 * Real keys and tokens for tests: an issuer with RSA, EC P-256 and Ed25519 keys, its JWKS as a file or
 * served over loopback HTTP (the requests counted), and signed tokens with whatever claims a test needs.
 */
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  exportJWK,
  type GenerateKeyPairResult,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';

export const ISSUER = 'https://id.example.org';
export const AUDIENCE = 'zapas';

export type Alg = 'RS256' | 'ES256' | 'EdDSA';

export interface TestKey {
  alg: Alg;
  kid: string;
  privateKey: GenerateKeyPairResult['privateKey'];
  publicKey: GenerateKeyPairResult['publicKey'];
  publicJwk: JWK;
}

/** A key pair for `alg`; its public JWK names `kid` (none when `kid` is ''). */
export async function makeKey(alg: Alg, kid: string = `${alg.toLowerCase()}-1`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), use: 'sig', ...(kid ? { kid } : {}) };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

export function keySet(...keys: TestKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.publicJwk) };
}

export async function writeKeySet(dir: string, set: JSONWebKeySet, name = 'jwks.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(set), { mode: 0o600 });
  return path;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

export interface TokenSpec {
  claims?: JWTPayload & Record<string, unknown>;
  /** Default: the key's kid; '' for none. */
  kid?: string;
  issuer?: string;
  audience?: string;
  /** Seconds from now; null for none. Default 300. */
  expiresIn?: number | null;
  /** Seconds from now. */
  notBefore?: number;
}

/** A token signed by `key`: sub `alice`, the issuer and audience above, expiring in 5 minutes. */
export async function signToken(key: TestKey, spec: TokenSpec = {}): Promise<string> {
  const kid = spec.kid ?? key.kid;
  const jwt = new SignJWT({ sub: 'alice', ...spec.claims })
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(kid ? { kid } : {}) })
    .setIssuer(spec.issuer ?? ISSUER)
    .setAudience(spec.audience ?? AUDIENCE)
    .setIssuedAt();
  const expiresIn = spec.expiresIn === undefined ? 300 : spec.expiresIn;
  if (expiresIn !== null) jwt.setExpirationTime(nowSeconds() + expiresIn);
  if (spec.notBefore !== undefined) jwt.setNotBefore(nowSeconds() + spec.notBefore);
  return jwt.sign(key.privateKey);
}

export const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');

/** A loopback HTTP server serving `set()` as a JWKS, counting the requests it answers. */
export interface JwksServer {
  url: string;
  requests: () => number;
  serve: (set: JSONWebKeySet) => void;
  close: () => Promise<void>;
}

export async function startJwksServer(initial: JSONWebKeySet): Promise<JwksServer> {
  let set = initial;
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(set));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    requests: () => count,
    serve: (next) => {
      set = next;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
