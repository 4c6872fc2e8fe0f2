import { createHmac } from 'node:crypto';
import { CompactSign, exportSPKI } from 'jose';
import {
  AuthenticationError,
  type AuthenticationProblem,
  CLOCK_TOLERANCE_SECONDS,
  MAX_TOKEN_CHARS,
  TokenVerifier,
} from '../../lib/security/tokens';
import { useTempDir } from '../support/temp';
import {
  AUDIENCE,
  b64url,
  ISSUER,
  keySet,
  makeKey,
  nowSeconds,
  signToken,
  type TestKey,
  writeKeySet,
} from './token-kit';

const tempDir = useTempDir();
let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
let foreign: TestKey;
let verifier: TokenVerifier;

beforeAll(async () => {
  [rsa, ec, ed, foreign] = await Promise.all([
    makeKey('RS256'),
    makeKey('ES256'),
    makeKey('EdDSA'),
    makeKey('ES256', 'es256-1'),
  ]);
  await writeKeySet(tempDir(), keySet(rsa, ec, ed));
  // A relative path, taken from the base folder (the configuration file's).
  verifier = TokenVerifier.fromSettings({ issuer: ISSUER, audience: AUDIENCE, jwks: 'jwks.json' }, tempDir());
});

/** The refusal of `header`; fails the test when it is accepted or refused some other way. */
async function refusal(header: string | undefined): Promise<AuthenticationError> {
  const err = await verifier.verify(header).then(
    (p) => new Error(`accepted as ${JSON.stringify(p)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof AuthenticationError)) throw err;
  return err;
}

/** Nothing of the token is in the message: not the whole, not one of its parts, not its subject. */
function expectNothingOfToken(err: Error, header: string | undefined): void {
  const text = header?.trim() ?? '';
  const token = /\s/.test(text) ? text.replace(/^\S+\s+/, '') : /^bearer$/i.test(text) ? '' : text;
  for (const piece of [token, ...token.split('.'), 'alice'].filter((p) => p.length >= 4))
    expect(err.message).not.toContain(piece);
  expect(JSON.stringify(err)).not.toContain('alice');
  expect(err.cause).toBeUndefined();
}

async function expectRefused(header: string | undefined, problem: AuthenticationProblem, text: RegExp) {
  const err = await refusal(header);
  expect({ problem: err.problem, message: err.message }).toEqual({
    problem,
    message: expect.stringMatching(text),
  });
  expectNothingOfToken(err, header);
}

const bearer = (token: string) => `Bearer ${token}`;

describe('bearer tokens refused', () => {
  it('no header, an empty one, or Bearer with nothing after it', async () => {
    await expectRefused(undefined, 'missing', /no bearer token/);
    await expectRefused('', 'missing', /no bearer token/);
    await expectRefused('   ', 'missing', /no bearer token/);
    await expectRefused('Bearer ', 'missing', /nothing after "Bearer"/);
  });

  it('another scheme, even with a good token after it; its credentials are not repeated', async () => {
    const token = await signToken(ec);
    await expectRefused('Basic YWxpY2U6aHVudGVyMg==', 'not-bearer', /not of the Bearer scheme/);
    await expectRefused(`Token ${token}`, 'not-bearer', /not of the Bearer scheme/);
    await expectRefused(token, 'not-bearer', /not of the Bearer scheme/);
  });

  it('malformed: not three base64url parts, a JWE-like five, junk, over the length limit', async () => {
    await expectRefused(bearer('not-a-jwt'), 'malformed', /not a signed JWT/);
    await expectRefused(bearer('aaaa.bbbb.cccc.dddd.eeee'), 'malformed', /not a signed JWT/);
    await expectRefused(bearer('aaaa.bb+b.cccc'), 'malformed', /not a signed JWT/);
    await expectRefused(bearer(`${b64url('{nope')}.${b64url('{}')}.abcd`), 'malformed', /malformed$/);
    // Signed, but its payload is not a claims object.
    const signed = await new CompactSign(new TextEncoder().encode('[1,2]'))
      .setProtectedHeader({ alg: 'ES256', kid: ec.kid })
      .sign(ec.privateKey);
    await expectRefused(bearer(signed), 'malformed', /malformed$/);
    const long = `${'a'.repeat(MAX_TOKEN_CHARS)}.b.c`;
    await expectRefused(bearer(long), 'malformed', new RegExp(`longer than ${MAX_TOKEN_CHARS}`));
  });

  it('alg none, with or without a signature part', async () => {
    const claims = b64url(
      JSON.stringify({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 60 }),
    );
    for (const alg of ['none', 'None', 'NONE'])
      await expectRefused(
        bearer(`${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${claims}.`),
        'algorithm-not-allowed',
        /algorithm is not allowed \(only RS256, ES256, EdDSA\)/,
      );
    await expectRefused(
      bearer(`${b64url('{"alg":"none"}')}.${claims}.c2ln`),
      'algorithm-not-allowed',
      /not allowed/,
    );
  });

  it('HS256 signed with the public key (as PEM and as its JWK): key confusion', async () => {
    const claims = { sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 60, roles: ['admin'] };
    const pem = await exportSPKI(rsa.publicKey);
    for (const [alg, secret] of [
      ['HS256', pem],
      ['HS256', JSON.stringify(rsa.publicJwk)],
      ['HS384', pem],
      ['HS512', pem],
    ] as const) {
      const input = `${b64url(JSON.stringify({ alg, kid: rsa.kid, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
      const signature = createHmac(`sha${alg.slice(2)}`, secret)
        .update(input)
        .digest('base64url');
      await expectRefused(bearer(`${input}.${signature}`), 'algorithm-not-allowed', /not allowed/);
    }
  });

  it('other algorithms of the same key types (PS256, ES384, RS512, Ed25519) are refused as well', async () => {
    for (const [alg, kid] of [
      ['PS256', rsa.kid],
      ['ES384', ec.kid],
      ['RS512', rsa.kid],
      ['Ed25519', ed.kid],
    ]) {
      const input = `${b64url(JSON.stringify({ alg, kid }))}.${b64url('{"sub":"alice"}')}`;
      await expectRefused(bearer(`${input}.c2lnbmF0dXJl`), 'algorithm-not-allowed', /not allowed/);
    }
  });

  it('expired, and expired by more than the skew', async () => {
    await expectRefused(bearer(await signToken(ec, { expiresIn: -3600 })), 'expired', /has expired/);
    await expectRefused(
      bearer(await signToken(rsa, { expiresIn: -(CLOCK_TOLERANCE_SECONDS + 5) })),
      'expired',
      /has expired/,
    );
  });

  it('not valid yet (nbf beyond the skew)', async () => {
    await expectRefused(
      bearer(await signToken(ed, { notBefore: CLOCK_TOLERANCE_SECONDS + 60 })),
      'not-yet-valid',
      /not valid yet/,
    );
  });

  it('another issuer, another audience', async () => {
    await expectRefused(
      bearer(await signToken(ec, { issuer: 'https://evil.example.org' })),
      'wrong-issuer',
      /another issuer/,
    );
    await expectRefused(
      bearer(await signToken(ec, { audience: 'someone-else' })),
      'wrong-audience',
      /another audience/,
    );
  });

  it('a kid the key set lacks', async () => {
    await expectRefused(bearer(await signToken(ec, { kid: 'rotated-away' })), 'unknown-key', /not one of/);
  });

  it('the payload changed after signing (a role added)', async () => {
    const token = await signToken(ec, { claims: { roles: ['player'] } });
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = `${header}.${b64url(JSON.stringify({ ...claims, roles: ['admin'] }))}.${signature}`;
    await expectRefused(bearer(forged), 'bad-signature', /does not verify/);
  });

  it("another key's signature under our key's kid", async () => {
    await expectRefused(
      bearer(await signToken(foreign, { kid: ec.kid })),
      'bad-signature',
      /does not verify/,
    );
    // An RSA signature presented as EdDSA by the Ed25519 key's kid.
    const rsaToken = await signToken(rsa);
    const [, payload, signature] = rsaToken.split('.');
    const header = b64url(JSON.stringify({ alg: 'EdDSA', kid: ed.kid }));
    await expectRefused(bearer(`${header}.${payload}.${signature}`), 'bad-signature', /does not verify/);
  });

  it('roles (or a service’s sources) not a list of strings', async () => {
    for (const roles of ['admin', { 0: 'admin' }, [1, 'admin'], null])
      await expectRefused(
        bearer(await signToken(ec, { claims: { roles } as Record<string, unknown> })),
        'bad-claims',
        /"roles" claim is not a list of strings/,
      );
    await expectRefused(
      bearer(await signToken(ec, { claims: { roles: ['service'], sources: 'payments' } })),
      'bad-claims',
      /"sources" claim is not a list of strings/,
    );
  });

  it('no sub, an empty or non-string sub, no exp', async () => {
    await expectRefused(
      bearer(await signToken(ec, { claims: { sub: undefined } })),
      'bad-claims',
      /no "sub" claim/,
    );
    for (const sub of ['', 42])
      await expectRefused(
        bearer(await signToken(ec, { claims: { sub } as Record<string, unknown> })),
        'bad-claims',
        /"sub" claim is not a non-empty string/,
      );
    await expectRefused(bearer(await signToken(ec, { expiresIn: null })), 'bad-claims', /no "exp" claim/);
  });
});

describe('bearer tokens accepted', () => {
  it.each(['RS256', 'ES256', 'EdDSA'] as const)('%s: the principal of its claims', async (alg) => {
    const key = { RS256: () => rsa, ES256: () => ec, EdDSA: () => ed }[alg]();
    const exp = nowSeconds() + 300;
    const token = await signToken(key, {
      claims: { sub: `user-${alg}`, roles: ['operator', 'dba', 'root', '__proto__', 'dba'], jti: 'j-1', exp },
    });
    expect(await verifier.verify(bearer(token))).toEqual({
      kind: 'token',
      subject: `user-${alg}`,
      roles: ['operator', 'dba'],
      issuer: ISSUER,
      tokenId: 'j-1',
      expiresAt: exp,
    });
  });

  it('the scheme in any case; no roles claim: no roles', async () => {
    const token = await signToken(ed);
    expect(await verifier.verify(`bearer ${token}`)).toMatchObject({ subject: 'alice', roles: [] });
    expect(await verifier.verify(`BEARER   ${token}  `)).toMatchObject({ subject: 'alice' });
  });

  it('a service: its sources claim; another role: no sources taken', async () => {
    const token = await signToken(rsa, {
      claims: { sub: 'billing', roles: ['service'], sources: ['payments', 'payments', 'ledger'] },
    });
    expect(await verifier.verify(bearer(token))).toMatchObject({
      subject: 'billing',
      roles: ['service'],
      sources: ['payments', 'ledger'],
    });
    const noSources = await signToken(rsa, { claims: { roles: ['service'] } });
    expect((await verifier.verify(bearer(noSources))).sources).toEqual([]);
    const notService = await signToken(rsa, { claims: { roles: ['operator'], sources: ['payments'] } });
    expect(await verifier.verify(bearer(notService))).not.toHaveProperty('sources');
  });

  it(`within the skew of ${CLOCK_TOLERANCE_SECONDS} s: just expired, not quite valid yet`, async () => {
    const late = await signToken(ec, { expiresIn: -(CLOCK_TOLERANCE_SECONDS - 10) });
    expect(await verifier.verify(bearer(late))).toMatchObject({ subject: 'alice' });
    const early = await signToken(ec, { notBefore: CLOCK_TOLERANCE_SECONDS - 10 });
    expect(await verifier.verify(bearer(early))).toMatchObject({ subject: 'alice' });
  });

  it('an audience list that includes ours', async () => {
    const token = await signToken(ed, { audience: undefined, claims: { aud: ['other', AUDIENCE] } });
    expect(await verifier.verify(bearer(token))).toMatchObject({ subject: 'alice' });
  });
});
