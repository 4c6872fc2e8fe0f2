import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../lib/audit/event';
import { jsonLines, runCli, spawnCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** What the CLI records in the audit trail, and `zapas audit log`. */
describe('zapas records its actions in the audit trail', () => {
  const tmp = useTempDir();
  let repo = '';
  let src = '';
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['--repo', repo, ...args], env);
  const events = async (since?: string) => {
    const r = await cli(['audit', 'log', '--json', ...(since ? ['--since', since] : [])]);
    expect(r.code).toBe(0);
    return jsonLines<AuditEvent>(r.stdout);
  };
  const me = userInfo().username;

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    src = join(tmp(), 'src');
    await mkdir(src);
    await writeFile(join(src, 'save.json'), '{"level":3}');
    expect((await cli(['init'])).code).toBe(0);
    for (let i = 0; i < 3; i++) expect((await cli(['backup', src, '--source', 'saves'])).code).toBe(0);
  });

  let seen = 0;
  /** The events appended since the last call. */
  const fresh = async () => {
    const all = await events();
    const out = all.slice(seen);
    seen = all.length;
    return out;
  };

  it('backing up and listing snapshots (metadata) record nothing', async () => {
    expect((await cli(['snapshots'])).code).toBe(0);
    expect(await fresh()).toEqual([]);
  });

  it('restore: its intent before it, its outcome after, as the OS user, with one correlation id', async () => {
    const target = join(tmp(), 'restored');
    expect((await cli(['restore', 'latest', '--target', target])).code).toBe(0);
    const [intent, outcome, ...rest] = await fresh();
    expect(rest).toEqual([]);
    expect(intent).toMatchObject({
      seq: 1,
      principal: { kind: 'local', subject: me, roles: [] },
      action: 'restore',
      target: { verb: 'restore', snapshot: 'latest', target },
      outcome: 'allowed',
      origin: 'cli',
    });
    expect(outcome).toMatchObject({ seq: 2, action: 'restore', outcome: 'succeeded' });
    expect(outcome!.correlationId).toBe(intent!.correlationId);
    expect(intent!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('each invocation has its own correlation id; ZAPAS_CORRELATION_ID is honoured, and checked', async () => {
    await cli(['ls', 'latest']);
    await cli(['ls', 'latest'], { ZAPAS_CORRELATION_ID: 'req-42' });
    const [a, , b, c] = await fresh();
    expect(a!.action).toBe('read');
    expect(b!.correlationId).not.toBe(a!.correlationId);
    expect([b!.correlationId, c!.correlationId]).toEqual(['req-42', 'req-42']);
    const bad = await cli(['ls', 'latest'], { ZAPAS_CORRELATION_ID: 'x\ny' });
    expect(bad.code).toBe(2);
    expect(await fresh()).toEqual([]);
  });

  it('a refused restore (the target is not empty) is recorded with its reason', async () => {
    const target = join(tmp(), 'full');
    await mkdir(target);
    await writeFile(join(target, 'there'), 'x');
    expect((await cli(['restore', 'latest', '--target', target])).code).toBe(1);
    const [intent, outcome] = await fresh();
    expect(intent!.outcome).toBe('allowed');
    expect(outcome).toMatchObject({ action: 'restore', outcome: 'failed' });
    expect(outcome!.reason).toMatch(/empty/);
  });

  it('forget and prune are deletions, with what they were asked to delete', async () => {
    const list = jsonLines<{ id: string }>((await cli(['snapshots', '--json'])).stdout);
    expect((await cli(['forget', list[0]!.id])).code).toBe(0);
    // A dry run acts on nothing and records nothing.
    expect((await cli(['forget', '--keep-last', '1', '--dry-run'])).code).toBe(0);
    expect((await cli(['prune', '--dry-run'])).code).toBe(0);
    expect((await cli(['forget', '--keep-last', '1', '--prune'])).code).toBe(0);
    expect((await cli(['prune'])).code).toBe(0);
    const got = await fresh();
    expect(got.map((e) => [e.action, e.outcome, e.target.verb])).toEqual([
      ['delete', 'allowed', 'forget'],
      ['delete', 'succeeded', 'forget'],
      ['delete', 'allowed', 'forget'],
      ['delete', 'succeeded', 'forget'],
      ['delete', 'allowed', 'prune'],
      ['delete', 'succeeded', 'prune'],
    ]);
    expect(got[0]!.target.snapshots).toBe(list[0]!.id);
    expect(got[2]!.target).toMatchObject({ policy: 'keepLast=1', prune: 'yes' });
  });

  it('key changes, and a refused key removal, are recorded as manage-keys', async () => {
    const env = { ZAPAS_NEW_PASSWORD: 'another password of some length' };
    expect((await cli(['key', 'add'], env)).code).toBe(0);
    const slots = jsonLines<{ id: string; current: boolean }>((await cli(['key', 'list', '--json'])).stdout);
    const inUse = slots.find((s) => s.current)!.id;
    const other = slots.find((s) => !s.current)!.id;
    expect((await cli(['key', 'remove', inUse.slice(0, 8)])).code).toBe(1);
    expect((await cli(['key', 'remove', other.slice(0, 8)])).code).toBe(0);
    const got = await fresh();
    expect(got.map((e) => [e.action, e.outcome, e.target.change])).toEqual([
      ['manage-keys', 'allowed', 'add slot'],
      ['manage-keys', 'succeeded', 'add slot'],
      ['manage-keys', 'allowed', 'remove slot'],
      ['manage-keys', 'failed', 'remove slot'],
      ['manage-keys', 'allowed', 'remove slot'],
      ['manage-keys', 'succeeded', 'remove slot'],
    ]);
    expect(got[3]!.reason).toMatch(/refusing to remove the key slot in use/);
    expect(got.every((e) => e.principal.subject === me)).toBe(true);
  });

  it('audit log --json: one stored event per line, in order, chained', async () => {
    const all = await events();
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    for (const e of all)
      expect(Object.keys(e).sort()).toEqual(
        [
          'action',
          'correlationId',
          'origin',
          'outcome',
          'prev',
          'principal',
          'seq',
          'target',
          'time',
          ...(e.reason ? ['reason'] : []),
        ].sort(),
      );
  });

  it('audit log prints time, principal, action, target, outcome, reason and correlation id', async () => {
    const r = await cli(['audit', 'log']);
    expect(r.code).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.includes('refusing'))!;
    expect(line).toMatch(
      /^\s+\d+ {2}\d{4}-\d\d-\d\dT\S+Z {2}local:\S+ {2}manage-keys {2}\[change=remove slot slot=\w+ verb=key remove\] {2}failed {2}reason=".*refusing.*" {2}id=\S+ {2}via=cli$/,
    );
  });

  it('--since: a moment or a duration ago', async () => {
    expect(await events('2999-01-01T00:00:00Z')).toEqual([]);
    expect((await events('2000-01-01')).length).toBe(seen);
    expect((await events('1h')).length).toBe(seen);
    expect((await cli(['audit', 'log', '--since', 'yesterday'])).code).toBe(2);
  });

  it('escape sequences from the command line are printed escaped', async () => {
    expect((await cli(['ls', '\u001b[2Jabcd'])).code).toBe(1);
    seen += 2;
    const r = await cli(['audit', 'log']);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).toContain('\\u001b[2Jabcd');
  });

  it('a verb whose intent cannot be recorded does not act', async () => {
    const broken = join(tmp(), 'broken');
    await cp(repo, broken, { recursive: true });
    await rm(join(broken, 'audit'), { recursive: true });
    await writeFile(join(broken, 'audit'), 'not a folder');
    const target = join(tmp(), 'never');
    const r = await runCli(['--repo', broken, 'restore', 'latest', '--target', target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/restore not done: the audit trail could not record it/);
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('processes appending at once leave one whole chain with every event', async () => {
    const before = (await events()).length;
    const runs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        spawnCli(['--repo', repo, 'ls', 'latest'], { ZAPAS_CORRELATION_ID: `proc-${i}` }),
      ),
    );
    for (const r of runs) expect(r.code).toBe(0);
    const all = await events();
    expect(all.length).toBe(before + 8);
    for (let i = 0; i < 4; i++) expect(all.filter((e) => e.correlationId === `proc-${i}`)).toHaveLength(2);
    const verify = await cli(['audit', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`audit trail whole: ${before + 8} event\\(s\\)`));
  });
});
