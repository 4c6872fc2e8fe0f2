import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotNotFoundError } from '../../repo/errors';
import { Lock } from '../../repo/lock';
import type { Repository } from '../../repo/repository';
import { nodeDisplayName } from '../../repo/tree';
import type { WorkerPool } from '../../repo/worker-pool';
import { childEnv } from '../child-env';
import { ExcludeMatcher } from '../files/excludes';
import { Restorer } from '../files/restorer';
import { withDbname } from './conninfo';
import { dumpsOf } from './logical-dump';
import { connect, PgServerError } from './server';

export interface PgRestoreDumpOptions {
  source: string;
  /** Where to restore: the database of this connection, or --target-db on its server. */
  conninfo: string;
  bin: string;
  snapshot?: string;
  tables?: string[];
  schemas?: string[];
  /** Restore into this database (made when it does not exist). */
  targetDb?: string;
  jobs?: number;
  pool?: WorkerPool;
}

export interface PgRestoreDumpResult {
  snapshotId: string;
  database: string;
  /** Files of the dump that were fetched (all of them, or those a selective restore needs). */
  files: number;
}

/**
 * Restores a logical dump with pg_restore, in parallel: the dump directory is fetched into a spool folder
 * (for a selective restore only toc.dat and the data files of the chosen tables or schemas), pg_restore
 * reads it, and the folder is removed.
 */
export async function restoreDump(
  repo: Repository,
  opts: PgRestoreDumpOptions,
): Promise<PgRestoreDumpResult> {
  const lock = await Lock.acquire(repo, 'shared');
  const spool = await mkdtemp(join(tmpdir(), 'zapas-restore-dump-'));
  try {
    const dumps = dumpsOf(await repo.listSnapshots(), opts.source);
    const chosen =
      !opts.snapshot || opts.snapshot === 'latest'
        ? dumps.at(-1)
        : dumps.find((d) => d.id.startsWith(opts.snapshot!));
    if (!chosen)
      throw new SnapshotNotFoundError(
        `no logical dump ${opts.snapshot && opts.snapshot !== 'latest' ? `${opts.snapshot} ` : ''}of source "${opts.source}"`,
      );
    await repo.loadIndex();
    const root = await repo.loadTree(chosen.snapshot.tree);
    const dumpNode = root.nodes.find((n) => nodeDisplayName(n) === 'dump' && n.type === 'dir');
    if (!dumpNode?.subtree)
      throw new SnapshotNotFoundError(`snapshot ${chosen.id.slice(0, 8)} holds no dump/ folder`);
    const dir = join(spool, 'dump');
    const fetchInto = (patterns?: string[]) =>
      new Restorer(repo, {
        ...(opts.pool ? { pool: opts.pool } : {}),
        ...(patterns ? { include: new ExcludeMatcher(patterns) } : {}),
      }).restore(dumpNode.subtree!, dir);
    const selection = [
      ...(opts.tables ?? []).flatMap((t) => ['-t', t]),
      ...(opts.schemas ?? []).flatMap((s) => ['-n', s]),
    ];
    let files: number;
    if (selection.length > 0) {
      // The table of contents says which data files (<dump id>.dat) the chosen tables and schemas need.
      await fetchInto(['/toc.dat']);
      const list = await run(join(opts.bin, 'pg_restore'), ['-l', ...selection, dir]);
      const needed = [...list.matchAll(/^(\d+); \d+ \d+ (?:TABLE DATA|BLOBS|SEQUENCE SET) /gm)].map(
        (m) => `/${m[1]}.dat`,
      );
      await rm(dir, { recursive: true, force: true });
      files = (await fetchInto(['/toc.dat', ...needed])).files;
    } else {
      files = (await fetchInto()).files;
    }
    const target = opts.targetDb ? withDbname(opts.conninfo, opts.targetDb) : opts.conninfo;
    if (opts.targetDb) await ensureDatabase(opts.conninfo, opts.targetDb);
    // pg_restore -n restores what is in a schema, not the schema itself.
    if (opts.schemas?.length) await ensureSchemas(target, opts.schemas);
    await run(join(opts.bin, 'pg_restore'), ['-d', target, '-j', String(opts.jobs ?? 2), ...selection, dir]);
    return {
      snapshotId: chosen.id,
      database:
        opts.targetDb ?? (chosen.snapshot.postgres?.kind === 'dump' ? chosen.snapshot.postgres.database : ''),
      files,
    };
  } finally {
    await rm(spool, { recursive: true, force: true });
    await lock.release();
  }
}

/** Creates `dbname` on the server of `conninfo` unless it exists. */
async function ensureDatabase(conninfo: string, dbname: string): Promise<void> {
  const client = await connect(conninfo);
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbname]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${dbname.replace(/"/g, '""')}"`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Creates the schemas a selective restore puts objects into, unless they exist. */
async function ensureSchemas(conninfo: string, schemas: readonly string[]): Promise<void> {
  const client = await connect(conninfo);
  try {
    for (const schema of schemas)
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, '""')}"`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs a PostgreSQL tool; its stdout, or a PgServerError with the last lines it wrote. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv('pg-client') });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(
            new PgServerError(`${cmd.split('/').pop()} failed: ${toolErrors(stderr) || `exit ${code}`}`),
          ),
    );
  });
}

/** The lines of a tool's stderr that say what failed (its errors, else its last lines). */
function toolErrors(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = lines.filter((l) => /error|fatal/i.test(l) && !/errors ignored on restore/.test(l));
  return (errors.length > 0 ? errors : lines).slice(-3).join('; ');
}
