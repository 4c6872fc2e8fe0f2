import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Secret, TOTP } from 'otpauth';
import { openCatalogFolder } from '../../lib/catalog/catalog-folder';
import { main } from '../../lib/cli/main';
import { VERBS } from '../../lib/cli/verbs';
import { loadConfigFile } from '../../lib/pipeline/config/load';
import { RepositoryOpener } from '../../lib/pipeline/repositories';
import { addressLockKey, subjectLockKey } from '../../lib/security/lockout';
import { CatalogLockoutStore } from '../../lib/security/lockout-store';
import { TotpStepUp } from '../../lib/security/totp';
import { cliEnv, runCli, spawnCli, TEST_PASSWORD_FOR_CLI } from '../support/cli';
import { startServe } from '../support/serve';
import { useTempDir } from '../support/temp';

const tmp = useTempDir('zapas-auth-totp-');
let config = '';

beforeAll(async () => {
  const dir = tmp();
  await writeFile(join(dir, 'password'), `${TEST_PASSWORD_FOR_CLI}\n`, { mode: 0o600 });
  config = join(dir, 'zapas.yaml');
  // The first repository is the key repository (the configuration names none).
  await writeFile(
    config,
    `version: 1
repositories:
  keys: { url: ./keys-repo, passwordFile: ./password }
  other: { url: ./other-repo, passwordFile: ./password }
sources: {}
`,
  );
  for (const repo of ['keys-repo', 'other-repo'])
    expect((await runCli(['--repo', join(dir, repo), 'init'])).code).toBe(0);
});

const totp = (...args: string[]) => ['auth', 'totp', ...args, '--config', config];

/** Checks a code of `secret` against the service's catalog and key repository, as serve would. */
async function stepUpPasses(subject: string, secret: string, state = join(tmp(), '.zapas-state')) {
  const cfg = await loadConfigFile(config);
  const opener = new RepositoryOpener(cfg, { baseDir: tmp(), env: cliEnv() });
  // Sealed under the first repository's key: the configuration names no key repository.
  const { keyring } = await opener.get('keys');
  const catalog = await openCatalogFolder(state);
  try {
    const code = TOTP.generate({ secret: Secret.fromBase32(secret) });
    await new TotpStepUp({ catalog, keyring }).checkStepUp(subject, code);
  } finally {
    catalog.close();
  }
}

/** Runs the CLI in-process with stdout a terminal. */
async function onTerminal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const stdin = new PassThrough();
  stdin.end();
  const io = {
    stdout: { write: (s: string) => (stdout += s), isTTY: true },
    stderr: { write: (s: string) => (stderr += s), isTTY: false },
    stdin,
    env: cliEnv(),
  };
  const code = await main(args, io, VERBS);
  return { code, stdout, stderr };
}

describe('zapas auth totp', () => {
  test('enrol --json prints the secret once; its codes pass step-up in the service', async () => {
    const r = await runCli(totp('enrol', '--subject', 'alice', '--json'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      messageType: 'totp-enrolment',
      subject: 'alice',
      digits: 6,
      period: 30,
      algorithm: 'SHA1',
      uri: expect.stringMatching(/^otpauth:\/\/totp\/zapas:alice\?/),
      secret: expect.stringMatching(/^[A-Z2-7]{32}$/),
      warning: expect.stringContaining('shown once'),
    });
    expect(out.uri).toContain(`secret=${out.secret}`);
    await stepUpPasses('alice', out.secret as string);
    // The catalog the service uses, in its private state folder.
    expect(await readdir(join(tmp(), '.zapas-state'))).toContain('catalog.db');
    expect((await stat(join(tmp(), '.zapas-state'))).mode & 0o777).toBe(0o700);
    // Recorded in the key repository's audit trail, as the OS user, without the secret.
    const trail = await runCli(['--repo', join(tmp(), 'keys-repo'), 'audit', 'log', '--json']);
    expect(trail.code).toBe(0);
    const events = trail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; outcome: string; target: Record<string, string> });
    expect(events.map((e) => [e.action, e.outcome, e.target.subject])).toEqual([
      ['enrol', 'allowed', 'alice'],
      ['enrol', 'succeeded', 'alice'],
    ]);
    expect(trail.stdout).not.toContain(out.secret as string);
  });

  test('on a terminal: the URI and the secret with a warning; elsewhere only with --json', async () => {
    const refused = await runCli(totp('enrol', '--subject', 'bob'));
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('--json');
    // Nothing was enrolled by the refused run.
    const shown = await onTerminal(totp('enrol', '--subject', 'bob'));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('WARNING: this secret is shown once');
    const secret = /secret: ([A-Z2-7]{32})\n/.exec(shown.stdout)![1]!;
    expect(shown.stdout).toContain(`URI:    otpauth://totp/zapas:bob?`);
    await stepUpPasses('bob', secret);
  });

  test('enrolling again needs --replace; remove takes the factor away', async () => {
    const first = JSON.parse((await runCli(totp('enrol', '--subject', 'carol', '--json'))).stdout);
    const again = await runCli(totp('enrol', '--subject', 'carol', '--json'));
    expect(again.code).toBe(2);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain('--replace');
    const replaced = await runCli(totp('enrol', '--subject', 'carol', '--json', '--replace'));
    expect(replaced.code).toBe(0);
    const second = JSON.parse(replaced.stdout);
    expect(second.secret).not.toBe(first.secret);
    await stepUpPasses('carol', second.secret);

    const removed = await runCli(totp('remove', '--subject', 'carol'));
    expect([removed.code, removed.stdout]).toEqual([0, 'carol: second factor removed\n']);
    await expect(stepUpPasses('carol', second.secret)).rejects.toMatchObject({ reason: 'not-enrolled' });
    const none = await runCli(totp('remove', '--subject', 'carol'));
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('carol has no second factor enrolled');
  });

  test('a subject empty, too long or with control characters is refused', async () => {
    for (const subject of ['', 'a\nb', '\u001b[31mred', 'x'.repeat(257)]) {
      const r = await runCli(totp('enrol', '--subject', subject, '--json'));
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
    }
  });

  test('a wrong password for the key repository enrols nothing', async () => {
    const dir = tmp();
    const wrong = join(dir, 'wrong.yaml');
    await writeFile(join(dir, 'wrong-password'), 'not it\n', { mode: 0o600 });
    await writeFile(
      wrong,
      `version: 1
repositories:
  keys: { url: ./keys-repo, passwordFile: ./wrong-password }
sources: {}
`,
    );
    const r = await runCli(['auth', 'totp', 'enrol', '--config', wrong, '--subject', 'dave', '--json']);
    expect(r.code).toBe(12);
    expect(r.stdout).toBe('');
    await expect(stepUpPasses('dave', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).rejects.toMatchObject({
      reason: 'not-enrolled',
    });
  });

  test('enrols while zapas serve runs on the same state folder (the bundled command)', async () => {
    const serve = await startServe(config, { cwd: tmp() });
    try {
      const r = await spawnCli(totp('enrol', '--subject', 'erin', '--json'), { ZAPAS_PASSWORD: undefined });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      await stepUpPasses('erin', JSON.parse(r.stdout).secret);
    } finally {
      expect(await serve.stop()).toBe(0);
    }
  });
});

describe('zapas auth lockout', () => {
  const lockout = (...args: string[]) => ['auth', 'lockout', ...args, '--config', config];

  test('set, show, release a subject; an address apart from a subject of the same name; all recorded', async () => {
    const set = await runCli(
      lockout('set', '--subject', 'mallory', '--for', '12h', '--reason', 'incident 7'),
    );
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(/^subject mallory: locked out until \d{4}-/);
    const shown = await runCli(lockout('show', '--subject', 'mallory', '--json'));
    const until = Date.parse((JSON.parse(shown.stdout) as { lockedUntil: string }).lockedUntil);
    expect(until).toBeGreaterThan(Date.now() + 11 * 3600_000);
    expect(until).toBeLessThan(Date.now() + 13 * 3600_000);
    // What serve's guard reads: the subject's key, not an address of that name.
    const catalog = await openCatalogFolder(join(tmp(), '.zapas-state'));
    try {
      const store = new CatalogLockoutStore(catalog);
      expect(await store.lockedUntil(subjectLockKey('mallory'))).toBe(until);
      expect(await store.lockedUntil(addressLockKey('mallory'))).toBeUndefined();
    } finally {
      catalog.close();
    }
    expect((await runCli(lockout('show', '--address', '203.0.113.4'))).stdout).toBe(
      'address 203.0.113.4: not locked out\n',
    );
    expect((await runCli(lockout('release', '--subject', 'mallory'))).code).toBe(0);
    expect((await runCli(lockout('show', '--subject', 'mallory'))).stdout).toBe(
      'subject mallory: not locked out\n',
    );
    expect((await runCli(lockout('release', '--subject', 'mallory'))).code).toBe(1);
    const trail = await runCli(['--repo', join(tmp(), 'keys-repo'), 'audit', 'log', '--json']);
    const events = trail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; outcome: string; target: Record<string, string> })
      .filter((e) => e.action === 'lockout');
    expect(events.map((e) => [e.outcome, e.target.subject, e.target.change ?? e.target.reason])).toEqual([
      ['allowed', 'mallory', 'incident 7'],
      ['succeeded', 'mallory', 'incident 7'],
      ['allowed', 'mallory', 'release'],
      ['succeeded', 'mallory', 'release'],
      ['allowed', 'mallory', 'release'],
      ['failed', 'mallory', 'release'],
    ]);
  });

  test.each([
    [['show'], /exactly one of --subject and --address/],
    [['show', '--subject', 'a', '--address', '192.0.2.1'], /exactly one/],
    [['show', '--address', 'not an address'], /IPv4 or IPv6/],
    [['set', '--subject', 'a', '--for', 'soon', '--reason', 'x'], /--for/],
  ])('refuses %j (exit 2)', async (args, why) => {
    const r = await runCli(lockout(...args));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(why);
  });
});
