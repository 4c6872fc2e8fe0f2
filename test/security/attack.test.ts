import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Secret, TOTP } from 'otpauth';
import type { Catalog } from '../../lib/catalog/catalog';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { generateKeyring } from '../../lib/repo/keyring';
import { STEP_UP_MAX_FAILURES, StepUpError, TotpStepUp } from '../../lib/security/totp';
import { type DynamoServer, startDynamoServer } from '../support/dynamo-server';

/**
 * A security review's attacks on step-up over real catalogs (dynalite on loopback, the embedded one):
 * concurrent guesses, each from its own connection as function instances would send them.
 */
let server: DynamoServer;
let client: DynamoDBClient;
beforeAll(async () => {
  server = await startDynamoServer();
  client = server.client();
});
afterAll(async () => {
  await server?.stop();
});

const stores: [string, () => Promise<() => Promise<Catalog>>][] = [
  [
    'DynamoDB (dynalite on loopback)',
    async () => {
      const table = `zapas-${randomUUID().slice(0, 8)}`;
      await new DynamoCatalog(client, table).ensureTable(client);
      return async () => new DynamoCatalog(server.client(), table);
    },
  ],
  [
    'embedded',
    async () => {
      const catalog = await EmbeddedCatalog.open();
      return async () => catalog;
    },
  ],
];

const reasonOf = (p: Promise<unknown>) =>
  p.then(
    () => 'passed',
    (e: unknown) => (e instanceof StepUpError ? e.reason : String(e)),
  );
const messageOf = (p: Promise<unknown>) =>
  p.then(
    () => 'passed',
    (e: unknown) => String((e as Error).message),
  );

describe.each(stores)('attack: step-up guesses over %s', (_name, make) => {
  const keyring = generateKeyring();

  it('FIXED: 30 wrong codes at once are judged at most STEP_UP_MAX_FAILURES times', async () => {
    const connect = await make();
    const first = new TotpStepUp({ catalog: await connect(), keyring });
    await first.enrol('alice');
    const guesses = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const stepUp = new TotpStepUp({ catalog: await connect(), keyring });
        return messageOf(stepUp.checkStepUp('alice', String(200000 + i)));
      }),
    );
    // A judged guess is told its code was wrong (and maybe that it locked alice out); the others only
    // that alice is locked out.
    const judged = guesses.filter((m) => m.startsWith('wrong one-time code for alice'));
    expect(guesses.filter((m) => !/wrong one-time code|locked out/.test(m))).toEqual([]);
    expect(judged.length).toBeLessThanOrEqual(STEP_UP_MAX_FAILURES);
    expect(await first.lockouts.lockedUntil('subject:alice')).toBeDefined();
  });

  it('replayed codes and an unenrolled subject count no failure', async () => {
    const connect = await make();
    const stepUp = new TotpStepUp({ catalog: await connect(), keyring });
    const { secret } = await stepUp.enrol('bob');
    const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
    await stepUp.checkStepUp('bob', code);
    for (let i = 0; i < STEP_UP_MAX_FAILURES + 2; i++)
      expect(await reasonOf(stepUp.checkStepUp('bob', code))).toBe('replayed');
    for (let i = 0; i < STEP_UP_MAX_FAILURES + 2; i++)
      expect(await reasonOf(stepUp.checkStepUp('nobody', '123456'))).toBe('not-enrolled');
    const wrong = await stepUp
      .checkStepUp('bob', code === '000000' ? '111111' : '000000')
      .catch((e: Error) => e);
    expect((wrong as Error).message).toMatch(/\(1 of 5 /);
  });
});
