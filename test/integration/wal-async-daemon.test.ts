import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository } from '../../lib/repo/repository';
import { WalArchive } from '../../lib/sources/postgres/wal-archive';
import { segmentName } from '../../lib/sources/postgres/wal-names';
import { FsStorage } from '../../lib/storage/fs';
import { type CliResult, spawnCli } from '../support/cli';
import { testKey } from '../support/repo';
import { makeTempDir } from '../support/temp';
import { fakeSegment } from '../support/wal-segments';

const SYSTEM_ID = '7300000000000000001';
/** The storm test: rounds, each of this many archive_command calls started at once. */
const ROUNDS = 5;
const PER_ROUND = 40;
/** Small segment files (a real header, 64 KiB): the test is about processes, not bytes. */
const SEGMENT_FILE_BYTES = 64 * 1024;
const SAMPLE_MS = 15;

interface Setup {
  env: NodeJS.ProcessEnv;
  walDir: string;
  spool: string;
  repoDir: string;
}

/** A repository and a pg_wal folder whose segments are marked ready (as the server marks them). */
async function setup(): Promise<Setup> {
  const dir = await makeTempDir('zapas-walasync-');
  const repoDir = join(dir, 'repo');
  const env = { ZAPAS_REPOSITORY: repoDir };
  const init = await spawnCli(['init'], env);
  if (init.code !== 0) throw new Error(init.stderr);
  const walDir = join(dir, 'pg_wal');
  await mkdir(join(walDir, 'archive_status'), { recursive: true });
  return { env, walDir, spool: join(dir, 'spool'), repoDir };
}

async function addSegments(s: Setup, from: number, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = from; i < from + count; i++) {
    const name = segmentName(1, BigInt(i));
    await writeFile(join(s.walDir, name), fakeSegment(name, SYSTEM_ID, { bytes: SEGMENT_FILE_BYTES }));
    await writeFile(join(s.walDir, 'archive_status', `${name}.ready`), '');
    names.push(name);
  }
  return names;
}

/** Niceness of the archive_command processes (and so of the daemons they start). */
const NICENESS = 10;

/**
 * archive_command: `zapas pg wal-push --async … %p`, run niced (see watchDaemons); on success the file is
 * marked done, as the server marks it.
 */
function archiveCommand(s: Setup, name: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const args = ['pg', 'wal-push', '--async', '--spool', s.spool, '--source', 'db', join(s.walDir, name)];
  return spawnCli(args, { ...s.env, ...env }, { niceness: NICENESS }).then(async (r) => {
    // As the server does once archive_command answers 0.
    if (r.code === 0) {
      const status = join(s.walDir, 'archive_status');
      await rename(join(status, `${name}.ready`), join(status, `${name}.done`));
    }
    return r;
  });
}

/**
 * Watches /proc for processes running in daemon mode on this spool: every pid seen, and the most seen
 * at one moment. Independent of what the daemons log about themselves. The reads are synchronous and the
 * archive_command processes run niced: on a loaded machine an asynchronous sampler competing with them
 * took seconds per pass and missed short-lived daemons.
 */
function watchDaemons(spool: string) {
  const seen = new Set<number>();
  let most = 0;
  let passes = 0;
  const timer = setInterval(() => {
    let now = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      } catch {
        continue; // ended meanwhile
      }
      const args = cmdline.split('\0');
      if (args.includes('--daemon') && args.includes(spool)) {
        seen.add(Number(entry));
        now++;
      }
    }
    most = Math.max(most, now);
    passes++;
  }, SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      return { pids: seen, most, passes };
    },
  };
}

/** The daemon log's lines as (pid, event) in order. */
async function daemonEvents(spool: string): Promise<{ pid: number; event: string }[]> {
  const text = await readFile(join(spool, 'daemon.log'), 'utf8');
  return text
    .split('\n')
    .map((l) => / pid (\d+) (.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), event: m[2]! }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until process `pid` has ended. */
async function gone(pid: number): Promise<void> {
  while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
}

async function daemonPid(spool: string): Promise<number> {
  const holds = (await daemonEvents(spool)).filter((e) => e.event === 'holds the lock');
  return holds.at(-1)!.pid;
}

/**
 * wal-push --async keeps exactly one daemon per spool: an exclusive lock (process-lock.ts) that its holder's
 * death releases, and one archive_command at a time starting a daemon.
 */
describe('wal-push --async: one daemon per spool', () => {
  it(`archives ${ROUNDS * PER_ROUND} segments, ${PER_ROUND} archive_command calls at once, with one daemon at a time`, async () => {
    const s = await setup();
    const watch = watchDaemons(s.spool);
    const names: string[] = [];
    const killed: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Each round starts with no daemon (the last one SIGKILLed) and every call needing one.
        const batch = await addSegments(s, 1 + round * PER_ROUND, PER_ROUND);
        names.push(...batch);
        const results = await Promise.all(batch.map((name) => archiveCommand(s, name)));
        for (const [i, r] of results.entries())
          if (r.code !== 0) throw new Error(`${batch[i]}: exit ${r.code}: ${r.stderr}`);
        const pid = await daemonPid(s.spool);
        // On a loaded machine the daemon may have gone idle and ended already.
        if (alive(pid)) {
          process.kill(pid, 'SIGKILL');
          killed.push(pid);
        }
        await gone(pid);
      }
    } finally {
      const { pids, most } = watch.stop();
      // Never two at once.
      expect(most).toBe(1);
      // No storm of short-lived starts: every daemon started held the lock (none was started beside a
      // running one only to lose the lock and exit; the log counts those too), about one per round.
      const events = await daemonEvents(s.spool);
      const starts = events.filter((e) => e.event === 'started in daemon mode').map((e) => e.pid);
      const holds = events.filter((e) => e.event === 'holds the lock').map((e) => e.pid);
      expect(holds).toEqual(starts);
      expect(starts.length).toBeGreaterThanOrEqual(ROUNDS);
      expect(starts.length).toBeLessThanOrEqual(2 * ROUNDS);
      for (const pid of killed) expect(starts).toContain(pid);
      // The sampler, independent of the log, saw no daemon that the log does not name.
      expect([...pids].filter((p) => !starts.includes(p))).toEqual([]);
    }
    const repo = await Repository.open(new FsStorage(s.repoDir), testKey());
    const archived = new Set((await new WalArchive(repo, 'db').list()).map((e) => e.name));
    expect(names.filter((n) => !archived.has(n))).toEqual([]);
    // Every marker was taken by its archive_command.
    expect((await readdir(s.spool)).filter((f) => f.endsWith('.ok') || f.endsWith('.error'))).toEqual([]);
  }, 300_000);

  it('a SIGKILLed daemon does not block the next one', async () => {
    const s = await setup();
    const [first] = await addSegments(s, 1, 1);
    expect((await archiveCommand(s, first!)).code).toBe(0);
    const killed = await daemonPid(s.spool);
    process.kill(killed, 'SIGKILL');
    // Made ready only now: the killed daemon cannot have pushed it ahead.
    const [second] = await addSegments(s, 2, 1);
    const started = Date.now();
    const r = await archiveCommand(s, second!);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const next = await daemonPid(s.spool);
    expect(next).not.toBe(killed);
    if (alive(next)) process.kill(next, 'SIGTERM');
  }, 60_000);

  it('a daemon that cannot open the repository fails archive_command at once, with its reason', async () => {
    const s = await setup();
    const [name] = await addSegments(s, 1, 1);
    const started = Date.now();
    const r = await archiveCommand(s, name!, { ZAPAS_PASSWORD: 'not the password' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`${name} not archived: the archiving daemon ended \\(exit status 12\\): .*password`),
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('the daemon gets the repository settings and nothing else of the environment', async () => {
    const s = await setup();
    const [name] = await addSegments(s, 1, 1);
    expect((await archiveCommand(s, name!, { UNRELATED_TOKEN: 'hush', LC_ALL: 'C.UTF-8' })).code).toBe(0);
    const pid = await daemonPid(s.spool);
    const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    if (alive(pid)) process.kill(pid, 'SIGTERM');
    expect(environ).toContain(`ZAPAS_REPOSITORY=${s.repoDir}`);
    expect(environ).toContain('LC_ALL=C.UTF-8');
    expect(environ.filter((v) => v.startsWith('UNRELATED_TOKEN'))).toEqual([]);
  }, 60_000);
});
