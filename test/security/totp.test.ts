import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Secret, TOTP, URI } from 'otpauth';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { generateKeyring } from '../../lib/repo/keyring';
import { CatalogLockoutStore } from '../../lib/security/lockout-store';
import {
  OTP_HEADER,
  STEP_UP_LOCKOUT_MS,
  STEP_UP_MAX_FAILURES,
  StepUpError,
  type StepUpReason,
  TotpStepUp,
} from '../../lib/security/totp';
import { KeyRepositoryError, keyRepositoryOf } from '../../lib/security/totp-key-repository';
import { sealTotp, totpSealKey } from '../../lib/security/totp-seal';
import { useCatalogStores } from '../support/catalog-stores';

const catalogs = useCatalogStores();

/** A catalog under test; `second` is another connection to the same store (another process's view). */
interface Store {
  catalog: Catalog;
  second(): Promise<Catalog>;
  /** Folder of a database file, when the store has one. */
  dir?: string;
}

const fileStore = async (): Promise<Store> => {
  const dir = await catalogs.folder('zapas-totp-');
  const open = async () => catalogs.keep(await EmbeddedCatalog.open(join(dir, 'catalog.db')));
  return { catalog: await open(), second: open, dir };
};

const stores: [string, () => Promise<Store>][] = [
  [
    'DynamoDB (dynalite on loopback)',
    async () => {
      const table = `zapas-${randomUUID().slice(0, 8)}`;
      const client = catalogs.client();
      const catalog = new DynamoCatalog(client, table);
      await catalog.ensureTable(client);
      return { catalog, second: async () => new DynamoCatalog(catalogs.server().client(), table) };
    },
  ],
  ['embedded, in a database file', fileStore],
];

/** Mid-way through a 30-second step, so ±1 step is unambiguous. */
const START = Date.parse('2026-12-02T10:00:15Z');
const STEP_MS = 30_000;

const codeAt = (secret: string, ms: number) =>
  TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: ms });

async function refusal(p: Promise<unknown>): Promise<StepUpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof StepUpError)) throw new Error(`expected a StepUpError, got ${String(err)}`);
  return err;
}

async function refusedFor(p: Promise<unknown>, reason: StepUpReason): Promise<StepUpError> {
  const err = await refusal(p);
  expect(err.reason).toBe(reason);
  return err;
}

describe.each(stores)('TOTP step-up: %s', (_name, make) => {
  let store: Store;
  let clockMs = START;
  const keyring = generateKeyring();
  const stepUp = (catalog: Catalog = store.catalog) =>
    new TotpStepUp({ catalog, keyring, now: () => new Date(clockMs) });

  beforeEach(async () => {
    clockMs = START;
    store = await make();
  });

  test('enrolment hands out a 20-byte secret as an otpauth URI an authenticator app reads', async () => {
    const e = await stepUp().enrol('alice');
    const parsed = URI.parse(e.uri);
    expect(parsed).toBeInstanceOf(TOTP);
    const totp = parsed as TOTP;
    expect(totp.issuer).toBe('zapas');
    expect(totp.label).toBe('alice');
    expect([totp.algorithm, totp.digits, totp.period]).toEqual(['SHA1', 6, 30]);
    expect(totp.secret.base32).toBe(e.secret);
    expect(totp.secret.bytes.length).toBe(20);
    expect(await stepUp().enrolled('alice')).toBe(true);
    expect(await stepUp().enrolled('bob')).toBe(false);
    // Two enrolments never share a secret.
    expect((await stepUp().enrol('bob')).secret).not.toBe(e.secret);
  });

  test('the right code passes once; the same code again is refused as replayed', async () => {
    const { secret } = await stepUp().enrol('alice');
    const code = codeAt(secret, clockMs);
    await stepUp().checkStepUp('alice', code);
    const err = await refusedFor(stepUp().checkStepUp('alice', code), 'replayed');
    expect(err.message).not.toContain(code);
    // Still refused from another connection, a few seconds later within the same step.
    clockMs += 5_000;
    await refusedFor(stepUp(await store.second()).checkStepUp('alice', code), 'replayed');
    // The next step's code passes.
    clockMs += STEP_MS;
    await stepUp().checkStepUp('alice', codeAt(secret, clockMs));
  });

  test('one code used twice at the same moment: exactly one winner', async () => {
    const { secret } = await stepUp().enrol('alice');
    const code = codeAt(secret, clockMs);
    const [a, b] = [stepUp(), stepUp(await store.second())];
    const results = await Promise.allSettled([
      a.checkStepUp('alice', code),
      b.checkStepUp('alice', code),
      a.checkStepUp('alice', code),
      b.checkStepUp('alice', code),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results.filter((r) => r.status === 'rejected'))
      expect(((r as PromiseRejectedResult).reason as StepUpError).reason).toBe('replayed');
  });

  test("the previous step's code passes once; two steps ago is a wrong code", async () => {
    const { secret } = await stepUp().enrol('alice');
    await refusedFor(stepUp().checkStepUp('alice', codeAt(secret, clockMs - 2 * STEP_MS)), 'wrong-code');
    await refusedFor(stepUp().checkStepUp('alice', codeAt(secret, clockMs + 2 * STEP_MS)), 'wrong-code');
    const previous = codeAt(secret, clockMs - STEP_MS);
    await stepUp().checkStepUp('alice', previous);
    await refusedFor(stepUp().checkStepUp('alice', previous), 'replayed');
    // Once a step is used, no earlier step's code passes either (the current one is later: it does).
    await stepUp().checkStepUp('alice', codeAt(secret, clockMs));
    await refusedFor(stepUp().checkStepUp('alice', previous), 'replayed');
    // The next step's code (a clock running ahead) passes, and then the current one no more.
    await stepUp().checkStepUp('alice', codeAt(secret, clockMs + STEP_MS));
    await refusedFor(stepUp().checkStepUp('alice', codeAt(secret, clockMs)), 'replayed');
  });

  test('five wrong codes lock the subject out for 15 minutes, the right code included, saying until when', async () => {
    const { secret } = await stepUp().enrol('alice');
    const right = codeAt(secret, clockMs);
    const wrong = right === '000000' ? '000001' : '000000';
    for (let i = 1; i < STEP_UP_MAX_FAILURES; i++) {
      const err = await refusedFor(stepUp().checkStepUp('alice', wrong), 'wrong-code');
      expect(err.message).toContain(`${i} of 5`);
      expect(err.message).not.toContain(wrong);
    }
    const until = new Date(clockMs + STEP_UP_LOCKOUT_MS);
    const fifth = await refusedFor(stepUp().checkStepUp('alice', wrong), 'locked-out');
    expect(fifth.lockedUntil).toEqual(until);
    const locked = await refusedFor(stepUp().checkStepUp('alice', right), 'locked-out');
    expect(locked.message).toContain(until.toISOString());
    expect(locked.message).not.toContain(right);
    expect(await stepUp().lockouts.lockedUntil('subject:alice', new Date(clockMs))).toBe(until.getTime());
    // Another subject is not affected.
    const bob = await stepUp().enrol('bob');
    await stepUp().checkStepUp('bob', codeAt(bob.secret, clockMs));
    // Just before the end: still refused; at the end: the right code passes.
    clockMs = until.getTime() - 1;
    await refusedFor(stepUp().checkStepUp('alice', codeAt(secret, clockMs)), 'locked-out');
    clockMs = until.getTime();
    await stepUp().checkStepUp('alice', codeAt(secret, clockMs));
  });

  test('failures older than 15 minutes are forgotten, and a right code clears them', async () => {
    const { secret } = await stepUp().enrol('alice');
    const wrongAt = (ms: number) => (codeAt(secret, ms) === '000000' ? '000001' : '000000');
    for (let i = 0; i < 4; i++)
      await refusedFor(stepUp().checkStepUp('alice', wrongAt(clockMs)), 'wrong-code');
    clockMs += 15 * 60_000 + 1;
    const err = await refusedFor(stepUp().checkStepUp('alice', wrongAt(clockMs)), 'wrong-code');
    expect(err.message).toContain('1 of 5');
    for (let i = 0; i < 3; i++)
      await refusedFor(stepUp().checkStepUp('alice', wrongAt(clockMs)), 'wrong-code');
    await stepUp().checkStepUp('alice', codeAt(secret, clockMs));
    clockMs += STEP_MS;
    const after = await refusedFor(stepUp().checkStepUp('alice', wrongAt(clockMs)), 'wrong-code');
    expect(after.message).toContain('1 of 5');
  });

  test('a missing code, a code of another shape, an unenrolled subject', async () => {
    const { secret } = await stepUp().enrol('alice');
    const missing = await refusedFor(stepUp().checkStepUp('alice', undefined), 'missing-code');
    expect(missing.message).toContain(OTP_HEADER);
    await refusedFor(stepUp().checkStepUp('alice', '   '), 'missing-code');
    const right = codeAt(secret, clockMs);
    for (const hostile of [
      `${right}0`,
      `${right.slice(0, 3)} ${right.slice(3)}`,
      '１２３４５６',
      'x'.repeat(100_000),
    ]) {
      const err = await refusedFor(stepUp().checkStepUp('alice', hostile), 'wrong-code');
      expect(err.message).not.toContain(hostile);
    }
    // Spaces around the code are what a header may carry: the code still passes.
    await stepUp().checkStepUp('alice', ` ${right}\t`);
    await refusedFor(stepUp().checkStepUp('nobody', right), 'not-enrolled');
  });

  test('removal: no step-up afterwards; re-enrolment needs the current code or replace', async () => {
    const first = await stepUp().enrol('alice');
    await refusedFor(stepUp().enrol('alice'), 'already-enrolled');
    // Replacing with a current code gives a new secret; the old one's codes are wrong from then on.
    const second = await stepUp().enrol('alice', { currentCode: codeAt(first.secret, clockMs) });
    clockMs += STEP_MS;
    await refusedFor(stepUp().checkStepUp('alice', codeAt(first.secret, clockMs)), 'wrong-code');
    await stepUp().checkStepUp('alice', codeAt(second.secret, clockMs));
    // A wrong current code replaces nothing.
    await refusedFor(stepUp().enrol('alice', { currentCode: '000000' }), 'wrong-code');
    const third = await stepUp().enrol('alice', { replace: true });
    clockMs += STEP_MS;
    await stepUp().checkStepUp('alice', codeAt(third.secret, clockMs));
    expect(await stepUp().remove('alice')).toBe(true);
    expect(await stepUp().enrolled('alice')).toBe(false);
    clockMs += STEP_MS;
    await refusedFor(stepUp().checkStepUp('alice', codeAt(third.secret, clockMs)), 'not-enrolled');
    expect(await stepUp().remove('alice')).toBe(false);
    // Enrolling again after removal needs nothing more.
    await stepUp().enrol('alice');
  });

  test('the stored record holds no secret in clear', async () => {
    const e = await stepUp().enrol('alice');
    const bytes = Buffer.from((URI.parse(e.uri) as TOTP).secret.bytes);
    const forms = [e.secret, e.secret.toLowerCase(), bytes.toString('base64'), bytes.toString('hex')];
    const record = await store.catalog.getRecord('totp', 'alice');
    const raw = JSON.stringify(record);
    for (const f of forms) expect(raw).not.toContain(f);
    if (store.dir) {
      // The database file and its write-ahead log, byte for byte.
      for (const name of await readdir(store.dir)) {
        const file = await readFile(join(store.dir, name));
        expect(file.includes(bytes)).toBe(false);
        for (const f of forms) expect(file.includes(f)).toBe(false);
      }
    }
  });

  test('a record copied to another subject, tampered with, rolled back or of another repository does not open', async () => {
    const alice = await stepUp().enrol('alice');
    const { value } = (await store.catalog.getRecord('totp', 'alice'))!;
    // Bob's record at the same revision as alice's: only the subject differs.
    expect(await store.catalog.putRecord('totp', 'bob', value, 0)).toBe(true);
    const copied = await refusedFor(stepUp().checkStepUp('bob', codeAt(alice.secret, clockMs)), 'unreadable');
    expect(copied.message).toContain('bob');

    const sealed = Buffer.from(value.sealed as string, 'base64');
    const at = sealed.length - 20;
    sealed.writeUInt8(sealed.readUInt8(at) ^ 1, at);
    await stepUp().enrol('carol');
    const carol = (await store.catalog.getRecord('totp', 'carol'))!;
    expect(
      await store.catalog.putRecord(
        'totp',
        'carol',
        { ...carol.value, sealed: sealed.toString('base64') },
        carol.revision,
      ),
    ).toBe(true);
    await refusedFor(stepUp().checkStepUp('carol', '123456'), 'unreadable');
    for (const bad of [{}, { layout: 1, sealed: 'AAAA' }, { layout: 2, sealed: value.sealed }]) {
      const now = (await store.catalog.getRecord('totp', 'carol'))!;
      await store.catalog.putRecord('totp', 'carol', bad, now.revision);
      await refusedFor(stepUp().checkStepUp('carol', '123456'), 'unreadable');
    }

    // Alice's code passes (revision 2 now), then the revision-1 value put back would undo the replay guard.
    const code = codeAt(alice.secret, clockMs);
    await stepUp().checkStepUp('alice', code);
    expect(await store.catalog.putRecord('totp', 'alice', value, 2)).toBe(true);
    await refusedFor(stepUp().checkStepUp('alice', code), 'unreadable');

    const other = new TotpStepUp({
      catalog: store.catalog,
      keyring: generateKeyring(),
      now: () => new Date(clockMs),
    });
    await stepUp().enrol('dave');
    const err = await refusedFor(other.checkStepUp('dave', '123456'), 'unreadable');
    expect(err.message).toContain("another repository's key");
    // A damaged record still counts as enrolled: only replace writes over it.
    await refusedFor(stepUp().enrol('carol'), 'already-enrolled');
    const fresh = await stepUp().enrol('carol', { replace: true });
    await stepUp().checkStepUp('carol', codeAt(fresh.secret, clockMs));
  });
});

test("the codes are RFC 6238's (SHA-1 test vector, 6 digits)", async () => {
  const catalog = catalogs.keep(await EmbeddedCatalog.open());
  const keyring = generateKeyring();
  // RFC 6238 appendix B: the secret "12345678901234567890" gives 94287082 at T = 59 s, 8 digits.
  const secret = Buffer.from('12345678901234567890');
  await catalog.putRecord(
    'totp',
    'rfc',
    sealTotp(totpSealKey(keyring), 'rfc', 1, { secret, lastStep: 0, enrolledAt: 'test' }),
    0,
  );
  const at59 = new TotpStepUp({ catalog, keyring, now: () => new Date(59_000) });
  await refusedFor(at59.checkStepUp('rfc', '287083'), 'wrong-code');
  await at59.checkStepUp('rfc', '287082');
  await refusedFor(at59.checkStepUp('rfc', '287082'), 'replayed');
});

describe.each(stores)('lockouts over catalog records: %s', (_name, make) => {
  const policy = { maxFailures: 5, windowMs: 60_000, lockoutMs: 600_000 };
  let store: Store;
  beforeEach(async () => {
    store = await make();
  });

  test('a lock is kept until it ends; a shorter one does not shorten it', async () => {
    const lockouts = new CatalogLockoutStore(store.catalog);
    expect(await lockouts.lockedUntil('mallory', new Date(START))).toBeUndefined();
    await lockouts.lock('mallory', START + 1_000, 'intrusion rule');
    await lockouts.lock('mallory', START + 500, 'later, shorter');
    expect(await lockouts.lockedUntil('mallory', new Date(START))).toBe(START + 1_000);
    expect((await store.catalog.getRecord('lockout', 'mallory'))!.value.reason).toBe('intrusion rule');
    expect(await lockouts.lockedUntil('mallory', new Date(START + 1_000))).toBeUndefined();
    await lockouts.lock('mallory', START + 5_000, 'longer');
    expect(await lockouts.lockedUntil('mallory', new Date(START + 1_000))).toBe(START + 5_000);
  });

  test('failures counted at once from two connections: none lost, one lockout', async () => {
    const a = new CatalogLockoutStore(store.catalog);
    const b = new CatalogLockoutStore(await store.second());
    const outcomes = await Promise.all(
      [a, b, a, b].map((s) => s.recordFailure('mallory', policy, 'wrong codes', new Date(START))),
    );
    expect(outcomes.map((o) => o.failures).sort()).toEqual([1, 2, 3, 4]);
    expect(outcomes.every((o) => o.lockedUntil === undefined)).toBe(true);
    const fifth = await b.recordFailure('mallory', policy, 'wrong codes', new Date(START + 1));
    expect(fifth).toEqual({ failures: 0, lockedUntil: START + 1 + policy.lockoutMs });
    expect(await a.lockedUntil('mallory', new Date(START + 2))).toBe(START + 1 + policy.lockoutMs);
  });

  test('a record of another shape counts as no lockout and no failures', async () => {
    const lockouts = new CatalogLockoutStore(store.catalog);
    await store.catalog.putRecord('lockout', 'mallory', { until: 'forever', failures: 'many', reason: 7 }, 0);
    expect(await lockouts.lockedUntil('mallory', new Date(START))).toBeUndefined();
    expect((await lockouts.recordFailure('mallory', policy, 'wrong', new Date(START))).failures).toBe(1);
    expect((await store.catalog.getRecord('lockout', 'mallory'))!.value).toEqual({ failures: [START] });
  });
});

test('the key repository: auth.keyRepository when named, else the first repository', () => {
  const repositories = { main: {}, keys: {} };
  expect(keyRepositoryOf({ repositories })).toBe('main');
  expect(keyRepositoryOf({ repositories, auth: { keyRepository: 'keys' } })).toBe('keys');
  expect(() => keyRepositoryOf({ repositories, auth: { keyRepository: 'toString' } })).toThrow(
    KeyRepositoryError,
  );
  expect(() => keyRepositoryOf({ repositories: {} })).toThrow('no repository');
});
