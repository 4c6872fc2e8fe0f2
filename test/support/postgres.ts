import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZAPAS_EXE } from './cli';
import { TEST_PASSWORD, WEAK_KDF_ENV } from './repo';

/** Debian's PostgreSQL 15 binaries (.ci/run installs them); ZAPAS_PG_BIN points elsewhere. */
export const PG_BIN = process.env.ZAPAS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** True when the tests can make clusters here. */
export const PG_AVAILABLE = existsSync(join(PG_BIN, 'initdb'));
/** initdb refuses root: as root, clusters (and zapas, which they call) run as this user. */
export const PG_OS_USER = 'postgres';
const AS_ROOT = process.getuid?.() === 0;
/** util-linux's runuser (in sbin, which a test's PATH may lack). */
const RUNUSER =
  ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p)) ?? 'runuser';

/** The Node binary that runs zapas's script (Node 24: the one running the tests). */
export const NODE = process.execPath;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program as the PostgreSQL OS user (through runuser when the tests run as root). */
export function runAsPg(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const [file, argv] = AS_ROOT ? [RUNUSER, ['-u', PG_OS_USER, '--', cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? tmpdir(),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** A folder the PostgreSQL OS user owns (and the tests, as root, can read). */
export async function makePgDir(prefix = 'zapas-pg-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  if (AS_ROOT) await chown(dir, ...(await pgIds()));
  return dir;
}

let ids: [number, number] | undefined;
async function pgIds(): Promise<[number, number]> {
  if (ids) return ids;
  const uid = await runAsPg('id', ['-u']);
  const gid = await runAsPg('id', ['-g']);
  ids = [Number(uid.stdout.trim()), Number(gid.stdout.trim())];
  return ids;
}

/** Gives a path to the PostgreSQL OS user (recursively), so the clusters' zapas can use it. */
export async function giveToPg(path: string): Promise<void> {
  if (!AS_ROOT) return;
  const [uid, gid] = await pgIds();
  const r = await runAsRoot('chown', ['-R', `${uid}:${gid}`, path]);
  if (r.code !== 0) throw new Error(`chown ${path}: ${r.stderr}`);
}

function runAsRoot(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** A free TCP port on loopback (the kernel picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A repository and password file that the PostgreSQL OS user can use (archive_command runs as it). */
export interface PgRepo {
  dir: string;
  passwordFile: string;
  /** Environment for zapas: repository, password file, cheap scrypt. */
  env: NodeJS.ProcessEnv;
}

/** Runs zapas (the self-contained executable, as archive_command does) as the PostgreSQL OS user. */
export function zapasAsPg(repo: PgRepo, args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}) {
  return runAsPg(ZAPAS_EXE, args, { env: { ...repo.env, ...extraEnv } });
}

/** A new repository for PostgreSQL tests, owned by the PostgreSQL OS user. */
export async function makePgRepo(): Promise<PgRepo> {
  const base = await makePgDir('zapas-pgrepo-');
  const passwordFile = join(base, 'password');
  await writeFile(passwordFile, `${TEST_PASSWORD}\n`, { mode: 0o600 });
  await giveToPg(passwordFile);
  const dir = join(base, 'repo');
  const env: NodeJS.ProcessEnv = {
    // PostgreSQL's own kind of PATH: the machine's Node (older than zapas's, or none) is all it finds.
    PATH: `${PG_BIN}:/usr/bin:/bin`,
    ZAPAS_REPOSITORY: dir,
    ZAPAS_PASSWORD_FILE: passwordFile,
    ...WEAK_KDF_ENV,
    HOME: base,
  };
  const repo = { dir, passwordFile, env };
  const init = await zapasAsPg(repo, ['init']);
  if (init.code !== 0) throw new Error(`zapas init failed: ${init.stderr}`);
  return repo;
}

export interface ClusterOptions {
  /** The zapas source name the cluster archives its WAL to (archive_command = zapas pg wal-push). */
  source?: string;
  repo?: PgRepo;
  /** Extra postgresql.conf lines. */
  conf?: string[];
}

/** A PostgreSQL 15 cluster in a temporary folder, on a free port, owned by the PostgreSQL OS user. */
export class TestCluster {
  private constructor(
    readonly base: string,
    readonly dataDir: string,
    readonly socketDir: string,
    readonly port: number,
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** libpq connection string (Unix socket, trust authentication). */
  get conninfo(): string {
    return `host=${this.socketDir} port=${this.port} user=postgres dbname=postgres`;
  }

  /** Makes and starts a cluster; with `repo` and `source`, it archives WAL through zapas. */
  static async create(opts: ClusterOptions = {}): Promise<TestCluster> {
    const base = await makePgDir('zapas-cluster-');
    const dataDir = join(base, 'data');
    const socketDir = join(base, 'sock');
    await runOk(runAsPg('mkdir', ['-p', socketDir]));
    await runOk(
      runAsPg(join(PG_BIN, 'initdb'), [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '-E',
        'UTF8',
        '--no-sync',
      ]),
    );
    const port = await freePort();
    const env = {
      ...(opts.repo?.env ?? { PATH: process.env.PATH }),
      PGHOST: socketDir,
      PGPORT: String(port),
    };
    const cluster = new TestCluster(base, dataDir, socketDir, port, env);
    const lines = [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${socketDir}'`,
      'wal_level = replica',
      'max_wal_senders = 6',
      'fsync = off',
      `log_timezone = 'UTC'`,
      `timezone = 'UTC'`,
      ...(opts.repo && opts.source
        ? ['archive_mode = on', `archive_command = '${archiveCommand(opts.source)}'`]
        : []),
      ...(opts.conf ?? []),
    ];
    await runOk(
      runAsPg('sh', ['-c', `cat >> ${dataDir}/postgresql.conf`], { input: `${lines.join('\n')}\n` }),
    );
    // Trust on the Unix socket (the tests' own connections), passwords over TCP (the credential tests).
    await runOk(
      runAsPg('sh', ['-c', `cat > ${dataDir}/pg_hba.conf`], {
        input: [
          'local all all trust',
          'local replication all trust',
          'host all all 127.0.0.1/32 scram-sha-256',
          'host replication all 127.0.0.1/32 scram-sha-256',
          '',
        ].join('\n'),
      }),
    );
    await cluster.start();
    return cluster;
  }

  async start(dataDir = this.dataDir): Promise<void> {
    await runOk(
      runAsPg(
        join(PG_BIN, 'pg_ctl'),
        ['-D', dataDir, '-l', join(this.base, 'server.log'), '-w', '-t', '60', 'start'],
        {
          env: this.env,
        },
      ),
    );
  }

  async stop(mode: 'fast' | 'immediate' = 'fast', dataDir = this.dataDir): Promise<void> {
    await runAsPg(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-m', mode, '-w', 'stop'], { env: this.env });
  }

  /** Runs SQL with psql; returns its output (unaligned, tuples only). */
  async sql(query: string, opts: { port?: number; db?: string } = {}): Promise<string> {
    return psql(this.socketDir, opts.port ?? this.port, opts.db ?? 'postgres', query, this.env);
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop('immediate');
    await rm(this.base, { recursive: true, force: true });
  }

  /** The server log so far (for failing tests). */
  logPath(): string {
    return join(this.base, 'server.log');
  }
}

/** archive_command for a cluster archiving through zapas (the executable) as the PostgreSQL OS user. */
export function archiveCommand(source: string): string {
  return `${ZAPAS_EXE} pg wal-push --source ${source} %p`;
}

async function runOk(p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr || r.stdout}`);
  return r;
}

/** Appends lines to a file the PostgreSQL OS user owns. */
export async function appendAsPg(file: string, text: string): Promise<void> {
  if (AS_ROOT) await runOk(runAsPg('sh', ['-c', `cat >> '${file}'`], { input: text }));
  else await appendFile(file, text);
}

/** mkdir -p as the PostgreSQL OS user. */
export async function mkdirAsPg(dir: string): Promise<void> {
  if (AS_ROOT) await runOk(runAsPg('mkdir', ['-p', dir]));
  else await mkdir(dir, { recursive: true });
}

/** A server started on a restored data directory (its own port and socket folder). */
export class RestoredServer {
  private constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly socketDir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** libpq connection string of the restored server. */
  get conninfo(): string {
    return `host=${this.socketDir} port=${this.port} user=postgres dbname=postgres`;
  }

  /** Starts postgres on `dataDir` and waits until it accepts connections (recovery may go on). */
  static async start(
    dataDir: string,
    opts: { env?: NodeJS.ProcessEnv; archive?: boolean } = {},
  ): Promise<RestoredServer> {
    const port = await freePort();
    const socketDir = `${dataDir}.sock`;
    await mkdirAsPg(socketDir);
    const env = opts.env ?? { PATH: process.env.PATH };
    const options = [`-p ${port}`, `-k ${socketDir}`, ...(opts.archive ? [] : ['-c archive_mode=off'])].join(
      ' ',
    );
    const r = await runAsPg(
      join(PG_BIN, 'pg_ctl'),
      ['-D', dataDir, '-l', `${dataDir}.log`, '-o', options, '-w', '-t', '120', 'start'],
      { env },
    );
    if (r.code !== 0) {
      const log = await runAsPg('tail', ['-n', '30', `${dataDir}.log`]);
      throw new Error(`the restored server did not start: ${r.stderr}\n${log.stdout}`);
    }
    return new RestoredServer(dataDir, port, socketDir, env);
  }

  async sql(query: string): Promise<string> {
    return psql(this.socketDir, this.port, 'postgres', query, this.env);
  }

  /** Waits until recovery is over (promoted) or paused at its target. */
  async untilRecovered(timeoutMs = 60_000): Promise<'promoted' | 'paused'> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.sql(
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'promoted' WHEN pg_get_wal_replay_pause_state() = 'paused' THEN 'paused' ELSE 'recovering' END",
      );
      if (state === 'promoted' || state === 'paused') return state;
      if (Date.now() > end) throw new Error('recovery did not finish in time');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<void> {
    await runAsPg(join(PG_BIN, 'pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop'], {
      env: this.env,
    });
  }

  /** The server log, for failing tests. */
  async log(): Promise<string> {
    return (await runAsPg('cat', [`${this.dataDir}.log`])).stdout;
  }
}

/** Switches to a new WAL segment and waits until the finished one is archived; returns its name. */
export async function archiveNow(cluster: TestCluster): Promise<string> {
  const segment = await cluster.sql('SELECT pg_walfile_name(pg_current_wal_lsn())');
  await cluster.sql('SELECT pg_switch_wal()');
  for (let i = 0; i < 150; i++) {
    if ((await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")) >= segment)
      return segment;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${segment} was not archived`);
}

/** Runs SQL with psql as the PostgreSQL OS user; returns its output (unaligned, tuples only). */
async function psql(socketDir: string, port: number, db: string, query: string, env: NodeJS.ProcessEnv) {
  const args = ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port), '-d', db];
  const r = await runAsPg(join(PG_BIN, 'psql'), [...args, '-c', query], { env });
  if (r.code !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.trim();
}
