/**
 * The token issuer's public keys (a JSON Web Key Set): from a file, looked at again when it changes, or
 * from a URL, cached and fetched again when a token names a key the cached set lacks (no more often
 * than a cooldown allows, so tokens with made-up key ids cannot make zapas hammer the issuer).
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { JwksLocation } from './settings';

/** Largest JWKS file read: a real one holds a few keys, a few KiB. */
export const MAX_JWKS_BYTES = 1024 * 1024;
/** How often a JWKS file is looked at (a `stat`) for a change, at most. */
export const JWKS_FILE_CHECK_MS = 1000;
/** A fetched key set is used for this long before it is fetched again. */
export const JWKS_CACHE_MAX_AGE_MS = 10 * 60 * 1000;
/** After a fetch, a token naming an unknown key does not cause another fetch for this long. */
export const JWKS_COOLDOWN_MS = 30 * 1000;
/** A key set URL that has not answered in this long has failed. */
export const JWKS_TIMEOUT_MS = 5000;

export interface KeySetOptions {
  fileCheckMs?: number;
  cacheMaxAgeMs?: number;
  cooldownMs?: number;
  timeoutMs?: number;
}

/**
 * The keys cannot be had (the file is unreadable or wrong, the URL does not answer): no token can be
 * verified, which is the server's problem, not the caller's (an API answers 503, not 401).
 */
export class KeySetUnavailableError extends Error {
  override readonly name = 'KeySetUnavailableError';
}

/** A key lookup for jose's jwtVerify over the key set at `location`. */
export function openKeySet(location: JwksLocation, options: KeySetOptions = {}): JWTVerifyGetKey {
  return location.kind === 'file' ? fileKeySet(location.path, options) : urlKeySet(location.url, options);
}

/** Members of a JWK that hold private or secret key material. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** Key types for the allowed algorithms (RS256, ES256, EdDSA). */
const KEY_TYPES = ['RSA', 'EC', 'OKP'];

/** Checks that `json` is a set of public keys of the allowed types; the message says which key is wrong. */
export function checkPublicKeySet(json: unknown): JSONWebKeySet {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { keys?: unknown }).keys))
    throw new Error('not a JSON Web Key Set: an object with a "keys" list');
  const keys = (json as { keys: unknown[] }).keys;
  keys.forEach((key, i) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key))
      throw new Error(`key ${i} is not an object`);
    const kty = (key as { kty?: unknown }).kty;
    if (typeof kty !== 'string' || !KEY_TYPES.includes(kty))
      throw new Error(`key ${i}: key type ${JSON.stringify(kty)} is not one of ${KEY_TYPES.join(', ')}`);
    if (PRIVATE_MEMBERS.some((m) => Object.hasOwn(key, m)))
      throw new Error(`key ${i} holds private key material: a key set publishes public keys only`);
  });
  return json as JSONWebKeySet;
}

function tooLarge(path: string): never {
  throw new Error(`the key set ${path} has more than ${MAX_JWKS_BYTES} bytes`);
}

function parseKeySetFile(path: string, text: Buffer): ReturnType<typeof createLocalJWKSet> {
  if (text.length > MAX_JWKS_BYTES) tooLarge(path);
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch {
    throw new Error(`the key set ${path} is not JSON`);
  }
  try {
    return createLocalJWKSet(checkPublicKeySet(json));
  } catch (err) {
    throw new Error(`the key set ${path}: ${(err as Error).message}`);
  }
}

/** What tells a changed file from the one read: a rewrite in place or a rename over it. */
const stampOf = (s: { ino: number; size: number; mtimeMs: number; ctimeMs: number }) =>
  `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

/**
 * The key set of a file, read now (a missing or wrong file fails at start) and again whenever it has
 * changed. A change that leaves the file unreadable or wrong fails closed: no token is accepted until the
 * file is right again (the old keys are not kept, since a key taken out may be a compromised one).
 */
function fileKeySet(path: string, options: KeySetOptions): JWTVerifyGetKey {
  const checkMs = options.fileCheckMs ?? JWKS_FILE_CHECK_MS;
  let stamp: string;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let problem: string | undefined;
  try {
    // The stamp first: a change made while the file is read shows as a change at the next check.
    const info = statSync(path);
    stamp = stampOf(info);
    keys = parseKeySetFile(path, info.size > MAX_JWKS_BYTES ? tooLarge(path) : readFileSync(path));
  } catch (err) {
    throw new Error(`cannot use the JWKS file: ${(err as Error).message}`);
  }
  let checkedAt = Date.now();
  let pending: Promise<void> | undefined;
  const refresh = async () => {
    try {
      const info = await stat(path);
      if (stampOf(info) === stamp) return;
      stamp = stampOf(info);
      keys = parseKeySetFile(path, info.size > MAX_JWKS_BYTES ? tooLarge(path) : await readFile(path));
      problem = undefined;
    } catch (err) {
      keys = undefined;
      problem = (err as Error).message;
      stamp = '';
    }
  };
  return async (header, token) => {
    if (Date.now() - checkedAt >= checkMs) {
      checkedAt = Date.now();
      pending ??= refresh().finally(() => {
        pending = undefined;
      });
    }
    if (pending) await pending;
    if (!keys) throw new KeySetUnavailableError(`the key set cannot be used: ${problem}`);
    return keys(header, token);
  };
}

/** The key set served at `url`: fetched on first use, cached, fetched again for an unknown key. */
function urlKeySet(url: URL, options: KeySetOptions): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(url, {
    cacheMaxAge: options.cacheMaxAgeMs ?? JWKS_CACHE_MAX_AGE_MS,
    cooldownDuration: options.cooldownMs ?? JWKS_COOLDOWN_MS,
    timeoutDuration: options.timeoutMs ?? JWKS_TIMEOUT_MS,
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // Which key: the token's problem. Anything else (no answer, not 200, not a key set): the server's.
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys)
        throw err;
      if (err instanceof errors.JOSENotSupported) throw err;
      throw new KeySetUnavailableError(
        `the key set at ${url.origin}${url.pathname} cannot be fetched: ${(err as Error).message}`,
      );
    }
  };
}
