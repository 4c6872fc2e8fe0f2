import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { jwksLocation } from '../../lib/security/settings';
import { AuthenticationError, KeySetUnavailableError, TokenVerifier } from '../../lib/security/tokens';
import { useTempDir } from '../support/temp';
import {
  AUDIENCE,
  ISSUER,
  type JwksServer,
  keySet,
  makeKey,
  signToken,
  startJwksServer,
  type TestKey,
  writeKeySet,
} from './token-kit';

const tempDir = useTempDir();
let a: TestKey;
let b: TestKey;
let c: TestKey;

beforeAll(async () => {
  [a, b, c] = await Promise.all([makeKey('ES256', 'a'), makeKey('EdDSA', 'b'), makeKey('RS256', 'c')]);
});

const settings = (jwks: string) => ({ issuer: ISSUER, audience: AUDIENCE, jwks });
const bearer = async (key: TestKey, kid?: string) => `Bearer ${await signToken(key, { kid })}`;

async function problemOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'accepted',
    (err: Error) => (err instanceof AuthenticationError ? err.problem : err.name),
  );
}

describe('the jwks setting', () => {
  it('a path, an https URL, an http URL of a loopback address only', () => {
    expect(jwksLocation('./keys/jwks.json')).toEqual({ kind: 'file', path: './keys/jwks.json' });
    expect(jwksLocation('https://id.example.org/jwks')).toMatchObject({ kind: 'url' });
    expect(jwksLocation('http://127.0.0.1:8080/jwks')).toMatchObject({ kind: 'url' });
    expect(jwksLocation('http://[::1]:8080/jwks')).toMatchObject({ kind: 'url' });
    for (const [text, message] of [
      ['http://id.example.org/jwks', /loopback/],
      ['http://localhost/jwks', /loopback/],
      ['http://127.0.0.1.example.org/jwks', /loopback/],
      ['file:///etc/jwks.json', /not a file: URL/],
      ['ftp://id.example.org/jwks', /not a ftp: URL/],
      ['https://user:secret@id.example.org/jwks', /user name or password/],
      ['https://', /not a valid URL/],
    ] as const)
      expect(() => jwksLocation(text)).toThrow(message);
  });
});

describe('a JWKS file', () => {
  it('is refused at start when missing, not JSON, holding a private or a secret key', async () => {
    const dir = tempDir();
    expect(() => TokenVerifier.fromSettings(settings('missing.json'), dir)).toThrow(
      /cannot use the JWKS file/,
    );
    await writeFile(join(dir, 'junk.json'), '{"keys": [');
    expect(() => TokenVerifier.fromSettings(settings('junk.json'), dir)).toThrow(/is not JSON/);
    await writeFile(join(dir, 'nokeys.json'), '{"kid": "x"}');
    expect(() => TokenVerifier.fromSettings(settings('nokeys.json'), dir)).toThrow(/"keys" list/);
    const { exportJWK } = await import('jose');
    const privateJwk = await exportJWK(a.privateKey);
    await writeKeySet(dir, { keys: [b.publicJwk, privateJwk] }, 'private.json');
    expect(() => TokenVerifier.fromSettings(settings('private.json'), dir)).toThrow(
      /key 1 holds private key material/,
    );
    await writeKeySet(dir, { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, 'secret.json');
    const secretError = (() => {
      try {
        TokenVerifier.fromSettings(settings('secret.json'), dir);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(secretError).toMatch(/key 0: key type "oct" is not one of RSA, EC, OKP/);
    expect(secretError).not.toContain('c2VjcmV0');
  });

  it('is read again when it changes: a new key works, a removed one stops working', async () => {
    const path = await writeKeySet(tempDir(), keySet(a), 'rotating.json');
    const verifier = TokenVerifier.fromSettings(settings(path), '/', { fileCheckMs: 0 });
    const [tokenA, tokenB] = [await bearer(a), await bearer(b)];
    expect(await problemOf(verifier.verify(tokenA))).toBe('accepted');
    expect(await problemOf(verifier.verify(tokenB))).toBe('unknown-key');
    await writeKeySet(tempDir(), keySet(b), 'rotating.json');
    expect(await problemOf(verifier.verify(tokenB))).toBe('accepted');
    expect(await problemOf(verifier.verify(tokenA))).toBe('unknown-key');
  });

  it('fails closed while it is broken or gone (the old keys are not kept), and recovers', async () => {
    const path = await writeKeySet(tempDir(), keySet(a), 'breaking.json');
    const verifier = TokenVerifier.fromSettings(settings(path), '/', { fileCheckMs: 0 });
    const token = await bearer(a);
    expect(await problemOf(verifier.verify(token))).toBe('accepted');
    await writeFile(path, '{"keys": [');
    await expect(verifier.verify(token)).rejects.toThrow(KeySetUnavailableError);
    await expect(verifier.verify(token)).rejects.toThrow(/breaking\.json is not JSON/);
    await rm(path);
    await expect(verifier.verify(token)).rejects.toThrow(KeySetUnavailableError);
    await writeKeySet(tempDir(), keySet(a), 'breaking.json');
    expect(await problemOf(verifier.verify(token))).toBe('accepted');
  });

  it('is looked at no more often than the check interval', async () => {
    const path = await writeKeySet(tempDir(), keySet(a), 'slow.json');
    const verifier = TokenVerifier.fromSettings(settings(path), '/', { fileCheckMs: 60_000 });
    await writeKeySet(tempDir(), keySet(b), 'slow.json');
    // Within the interval the key set read at start is still the one used.
    expect(await problemOf(verifier.verify(await bearer(a)))).toBe('accepted');
    expect(await problemOf(verifier.verify(await bearer(b)))).toBe('unknown-key');
  });

  it('several keys fit a token without kid: the one its signature verifies with', async () => {
    const [x, y] = await Promise.all([makeKey('ES256', ''), makeKey('ES256', '')]);
    const path = await writeKeySet(tempDir(), keySet(x, y), 'nokid.json');
    const verifier = TokenVerifier.fromSettings(settings(path), '/');
    expect(await verifier.verify(await bearer(y, ''))).toMatchObject({ subject: 'alice' });
    expect(await verifier.verify(await bearer(x, ''))).toMatchObject({ subject: 'alice' });
    const stranger = await makeKey('ES256', '');
    expect(await problemOf(verifier.verify(await bearer(stranger, '')))).toBe('bad-signature');
  });
});

describe('a JWKS URL (loopback HTTP)', () => {
  let server: JwksServer;
  beforeEach(async () => {
    server = await startJwksServer(keySet(a));
  });
  afterEach(() => server.close());

  it('is fetched once and cached; an unknown kid fetches it again after the cooldown, not before', async () => {
    const cooldownMs = 300;
    const verifier = TokenVerifier.fromSettings(settings(server.url), '/', { cooldownMs });
    expect(server.requests()).toBe(0); // fetched on first use
    for (let i = 0; i < 3; i++) expect(await problemOf(verifier.verify(await bearer(a)))).toBe('accepted');
    expect(server.requests()).toBe(1);
    // Within the cooldown a token naming an unknown key does not cause a fetch.
    server.serve(keySet(a, b));
    expect(await problemOf(verifier.verify(await bearer(b)))).toBe('unknown-key');
    expect(server.requests()).toBe(1);
    await new Promise((ok) => setTimeout(ok, cooldownMs + 50));
    // After it: the rotated set is fetched once, and the new key works.
    expect(await problemOf(verifier.verify(await bearer(b)))).toBe('accepted');
    expect(server.requests()).toBe(2);
    // A made-up kid right after: refused, without another fetch.
    expect(await problemOf(verifier.verify(await bearer(c, 'made-up')))).toBe('unknown-key');
    expect(await problemOf(verifier.verify(await bearer(a)))).toBe('accepted');
    expect(server.requests()).toBe(2);
  });

  it('a token refused before any key is needed causes no fetch', async () => {
    const verifier = TokenVerifier.fromSettings(settings(server.url), '/');
    expect(await problemOf(verifier.verify('Bearer x.y.'))).toBe('malformed');
    expect(await problemOf(verifier.verify(undefined))).toBe('missing');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.e30.`;
    expect(await problemOf(verifier.verify(`Bearer ${none}`))).toBe('algorithm-not-allowed');
    expect(server.requests()).toBe(0);
  });

  it('a server that does not answer, or answers something else: the key set is unavailable', async () => {
    const wrongPath = TokenVerifier.fromSettings(settings(server.url.replace('jwks.json', 'nope')), '/');
    await expect(wrongPath.verify(await bearer(a))).rejects.toThrow(KeySetUnavailableError);
    await server.close();
    const down = TokenVerifier.fromSettings(settings(server.url), '/', { timeoutMs: 2000 });
    const err = await down.verify(await bearer(a)).catch((e: Error) => e);
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect((err as Error).message).toMatch(/cannot be fetched/);
    server = await startJwksServer(keySet(a)); // for afterEach
  });
});
