import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { readCatalogHead } from '../../lib/audit/audit-log';
import type { AuditEvent } from '../../lib/audit/event';
import { readAuditEvents } from '../../lib/audit/read-events';
import { verifyAuditTrail } from '../../lib/audit/verify';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { acceptMessage, startReady } from '../../lib/pipeline/orchestrate';
import { claimPurges, purgeClaimed } from '../../lib/pipeline/purge-due';
import { runJob } from '../../lib/pipeline/run-job';
import { ServiceSecurity } from '../../lib/pipeline/service-security';
import type { Repository } from '../../lib/repo/repository';
import { keySet, makeKey, signToken, writeKeySet } from '../security/token-kit';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

async function setUp() {
  const dir = await makeTempDir();
  await mkdir(join(dir, 'saves'));
  await writeFile(join(dir, 'saves', 'player-1.sav'), 'level 7');
  const key = await makeKey('ES256');
  await writeKeySet(dir, keySet(key));
  const config = parseConfig(`version: 1
repositories:
  keys: { url: ./keys, residency: RU }
  games: { url: ./games, residency: RU }
sources:
  saves:
    type: files
    paths: ["${join(dir, 'saves')}"]
    repository: games
    dataClass: game-content
    events: [backup-now]
auth: { issuer: https://id.example.org, audience: zapas, jwks: ./jwks.json }
detection:
  authFailures: { threshold: 3, windowSeconds: 300, lockoutSeconds: 600 }
`);
  const catalog = await EmbeddedCatalog.open();
  const repos: Record<string, Repository> = {
    keys: (await makeTempRepo()).repo,
    games: (await makeTempRepo()).repo,
  };
  const alerts: unknown[] = [];
  const security = new ServiceSecurity({
    config,
    catalog,
    baseDir: dir,
    repository: async (name) => repos[name]!,
    origin: 'serve',
    notify: { send: async (body: string) => String(alerts.push(JSON.parse(body))) },
  });
  return { config, catalog, repos, security, alerts, key };
}

/** Every event of a repository's trail, in order (a damaged one fails the test). */
async function readAll(repo: Repository): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for await (const r of readAuditEvents(repo)) {
    if ('error' in r) throw r.error;
    events.push(r.event);
  }
  return events;
}

const anonymous = { kind: 'anonymous' as const, subject: 'anonymous', roles: [] };

describe('the service security parts, put together', () => {
  it('routes each event to the trail of the repository it concerns, heads kept in the catalog', async () => {
    const { repos, security, catalog } = await setUp();
    await security.record({
      principal: { kind: 'token', subject: 'alice', roles: ['operator'] },
      action: 'backup',
      target: { source: 'saves' },
      outcome: 'allowed',
    });
    await security.record({ principal: anonymous, action: 'authenticate', target: {}, outcome: 'denied' });
    await security.record({
      principal: { kind: 'system', subject: 'retention', roles: [] },
      action: 'delete',
      target: { repository: 'keys' },
      outcome: 'succeeded',
    });
    // An unknown or prototype name is no route to anywhere: the key repository's trail takes it.
    await security.record({
      principal: anonymous,
      action: 'read',
      target: { source: '__proto__' },
      outcome: 'denied',
    });
    const games = await readAll(repos.games!);
    const keys = await readAll(repos.keys!);
    expect(games.map((e) => e.action)).toEqual(['backup']);
    expect(keys.map((e) => e.action)).toEqual(['authenticate', 'delete', 'read']);
    expect(keys.every((e) => e.origin === 'serve' && e.correlationId.length > 0)).toBe(true);
    for (const repo of [repos.games!, repos.keys!]) {
      const head = await readCatalogHead(catalog, repo.config.id);
      expect((await verifyAuditTrail(repo, { ...(head ? { catalogHead: head } : {}) })).ok).toBe(true);
    }
    expect((await readCatalogHead(catalog, repos.keys!.config.id))?.seq).toBe(3);
  });

  it('repeated refusals from one address raise one alert: recorded, sent, and the address locked out', async () => {
    const { repos, security, alerts } = await setUp();
    for (let i = 0; i < 4; i++)
      await security.record({
        principal: anonymous,
        action: 'authenticate',
        target: { route: 'GET /v1/sources' },
        outcome: 'denied',
        reason: 'bad signature',
        address: '203.0.113.7',
      });
    const events = await readAll(repos.keys!);
    expect(events.filter((e) => e.action === 'alert')).toHaveLength(1);
    expect(alerts).toHaveLength(1);
    expect(await security.lockouts.lockedUntil('address:203.0.113.7')).toBeGreaterThan(Date.now());
    // What the service does by its own policy is no principal's burst.
    for (let i = 0; i < 5; i++)
      await security.record({
        principal: { kind: 'system', subject: 'retention', roles: [] },
        action: 'delete',
        target: { repository: 'games' },
        outcome: 'failed',
      });
    expect(alerts).toHaveLength(1);
  });

  it('verifies tokens of the configured issuer; step-up sealed with the key repository', async () => {
    const { security, key } = await setUp();
    const principal = await security.verifier!.verify(
      `Bearer ${await signToken(key, { claims: { roles: ['admin'] } })}`,
    );
    expect(principal).toMatchObject({ subject: 'alice', roles: ['admin'] });
    const stepUp = await security.stepUp();
    const enrolment = await stepUp.enrol('alice');
    const code = TOTP.generate({ secret: Secret.fromBase32(enrolment.secret) });
    await expect(stepUp.checkStepUp('alice', code)).resolves.toBeUndefined();
    await expect(stepUp.checkStepUp('alice', code)).rejects.toThrow(/used already/);
  });

  it('jobs and purges record what they did, as the service itself', async () => {
    const { config, catalog, repos, security } = await setUp();
    await acceptMessage(
      config,
      catalog,
      { id: 'm1', body: '{"type":"backup-now","source":"saves"}' },
      new Date(),
    );
    const [started] = await startReady(config, catalog, 'w', new Date());
    const { job, snapshotId } = await runJob(
      {
        config,
        catalog,
        openRepository: async (name) => ({ repo: repos[name]!, close: async () => undefined }),
        record: security.record,
      },
      started!.job,
    );
    expect(job.state).toBe('succeeded');
    const later = new Date(Date.now() + 2 * 86_400_000);
    for (const name of await claimPurges(config, catalog, later))
      await purgeClaimed(
        { config, catalog, open: async (n) => repos[n]!, owner: 'test', record: security.record },
        name,
        later,
      );
    const games = await readAll(repos.games!);
    expect(games.map((e) => [e.principal.kind, e.action, e.outcome])).toEqual([
      ['system', 'backup', 'succeeded'],
      ['system', 'delete', 'allowed'],
      ['system', 'delete', 'succeeded'],
    ]);
    expect(games[0]!.target).toMatchObject({ source: 'saves', job: job.id, snapshot: snapshotId });
    expect(games[2]!.target).toMatchObject({ repository: 'games', forgotten: '0' });
  });
});
