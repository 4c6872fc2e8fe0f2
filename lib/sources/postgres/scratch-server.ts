import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Client } from 'pg';
import { childEnv } from '../child-env';
import { connect, PgServerError } from './server';

/** A throw-away postgres on a restored data directory: its own socket folder and port, no archiving. */
export class ScratchServer {
  private constructor(
    readonly dataDir: string,
    readonly socketDir: string,
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly log: () => string,
  ) {}

  /**
   * Starts postgres on `dataDir` with only local trust connections and no WAL archiving (a verification
   * copy must not add a timeline to the real archive). Run as root, postgres runs as the owner of the data
   * directory, as it insists.
   */
  static async start(bin: string, dataDir: string, scratch: string): Promise<ScratchServer> {
    const socketDir = join(scratch, 'sock');
    await mkdir(socketDir, { recursive: true, mode: 0o700 });
    const hba = join(scratch, 'pg_hba.conf');
    await writeFile(hba, 'local all all trust\n');
    const owner = await stat(dataDir);
    const asRoot = process.getuid?.() === 0;
    if (asRoot) for (const p of [scratch, socketDir, hba]) await chown(p, owner.uid, owner.gid);
    const port = await freePort();
    let log = '';
    const child = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        socketDir,
        '-c',
        'listen_addresses=',
        '-c',
        'archive_mode=off',
        '-c',
        `hba_file=${hba}`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: childEnv('pg-server'),
        ...(asRoot ? { uid: owner.uid, gid: owner.gid } : {}),
      },
    );
    const append = (d: Buffer) => {
      log = (log + d.toString()).slice(-64 * 1024);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    return new ScratchServer(dataDir, socketDir, port, child, () => log);
  }

  /** The server's own words so far (the reason a start or a recovery failed). */
  output(): string {
    return this.log();
  }

  /** Connects as the first of `users` that exists (the cluster's superuser is not always "postgres"). */
  async client(users: readonly string[], dbname = 'postgres', timeoutMs = 120_000): Promise<Client> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      if (this.child.exitCode !== null)
        throw new PgServerError(`the scratch server stopped: ${tail(this.output())}`);
      for (const user of users) {
        try {
          return await connect(`host=${this.socketDir} port=${this.port} user=${user} dbname=${dbname}`);
        } catch (err) {
          last = err;
        }
      }
      if (Date.now() > end)
        throw new PgServerError(`the scratch server did not accept connections: ${(last as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stops the server (fast shutdown, then kill). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(timer);
  }

  /** The name of a user id, from /etc/passwd (the bootstrap superuser is usually the initdb user). */
  static async userName(uid: number): Promise<string | undefined> {
    const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
    return passwd
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[2] === String(uid))?.[0];
  }
}

/** A free TCP port (postgres also names its socket file by port). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The lines of a server log that say why it stopped (FATAL and PANIC first, else the last lines). */
function tail(text: string): string {
  const lines = text.trim().split('\n');
  const fatal = lines.filter((l) => /FATAL|PANIC|ERROR/.test(l));
  return (fatal.length > 0 ? fatal : lines).slice(-4).join(' | ');
}

/** True when the binaries folder has pg_verifybackup (PostgreSQL 13 and later). */
export function hasVerifyBackup(bin: string): boolean {
  return existsSync(join(bin, 'pg_verifybackup'));
}
