import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Repository } from '../../repo/repository';
import type { WorkerPool } from '../../repo/worker-pool';
import { childEnv } from '../child-env';
import { baseBackupsOf } from './physical-backup';
import { restorePostgres } from './physical-restore';
import { hasVerifyBackup, ScratchServer } from './scratch-server';
import { WalArchive } from './wal-archive';
import { segmentName, segmentNumber } from './wal-names';

export interface PgVerifyOptions {
  source: string;
  snapshot?: string;
  /** Folder of the PostgreSQL binaries (postgres, pg_verifybackup). */
  bin: string;
  /** restore_command of the scratch server (zapas pg wal-fetch with this repository). */
  restoreCommand: string;
  /** SQL that must run without error and not answer false, in `checkDb`. */
  sqlChecks?: string[];
  checkDb?: string;
  /** Where the scratch copy goes (default: the system's temporary folder). */
  scratchRoot?: string;
  /** Keep the scratch copy (to look at after a failure). */
  keep?: boolean;
  pool?: WorkerPool;
  onStep?: (step: VerifyStep) => void;
}

/** One step of a verification and how it went. */
export interface VerifyStep {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface PgVerifyReport {
  snapshotId: string;
  ok: boolean;
  steps: VerifyStep[];
  /** From the start of the restore to a server open for queries: the measured recovery time. */
  rtoMs: number;
  scratch?: string;
}

/**
 * Proves a base backup restores: restore into a scratch folder (tablespaces there too), pg_verifybackup
 * against the stored manifest and the WAL the backup needs, a throw-away postgres that replays WAL to
 * the end of the backup, amcheck on every B-tree index where amcheck is installed, then the caller's SQL
 * checks; everything is stopped and removed afterwards. The first failing step ends it.
 */
export async function verifyPostgres(repo: Repository, opts: PgVerifyOptions): Promise<PgVerifyReport> {
  const scratch = await mkdtemp(join(opts.scratchRoot ?? tmpdir(), 'zapas-verify-'));
  const data = join(scratch, 'data');
  const steps: VerifyStep[] = [];
  const started = Date.now();
  let rtoMs = 0;
  let server: ScratchServer | undefined;
  let snapshotId = '';
  const step = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    const t0 = Date.now();
    try {
      const detail = await fn();
      steps.push({ name, ok: true, ms: Date.now() - t0, detail });
    } catch (err) {
      steps.push({ name, ok: false, ms: Date.now() - t0, detail: (err as Error).message });
    }
    opts.onStep?.(steps.at(-1)!);
    return steps.at(-1)!.ok;
  };
  try {
    const bases = baseBackupsOf(await repo.listSnapshots(), opts.source);
    const chosen =
      !opts.snapshot || opts.snapshot === 'latest'
        ? bases.at(-1)
        : bases.find((b) => b.id.startsWith(opts.snapshot!));
    if (chosen?.snapshot.postgres?.kind !== 'base')
      throw new Error(
        `no base backup ${opts.snapshot && opts.snapshot !== 'latest' ? `${opts.snapshot} ` : ''}of source "${opts.source}"`,
      );
    snapshotId = chosen.id;
    const info = chosen.snapshot.postgres;
    const ok =
      (await step('restore', async () => {
        const r = await restorePostgres(repo, {
          source: opts.source,
          target: data,
          snapshot: chosen.id,
          recoveryTarget: { kind: 'immediate' },
          action: 'promote',
          archiveMode: 'off',
          restoreCommand: opts.restoreCommand,
          tablespaceMapping: new Map(
            info.tablespaces.map((t) => [String(t.oid), join(scratch, 'tablespaces', String(t.oid))]),
          ),
          ...(opts.pool ? { pool: opts.pool } : {}),
        });
        return `${r.bytes} bytes of base backup ${chosen.id.slice(0, 8)}`;
      })) &&
      (await step('pg_verifybackup', async () => {
        if (!hasVerifyBackup(opts.bin)) return 'skipped: pg_verifybackup is not installed';
        const wal = info.walIncluded
          ? join(data, 'pg_wal')
          : await fetchBackupWal(repo, opts.source, info, join(scratch, 'wal'));
        // Restore rewrote tablespace_map to point at the scratch folders, so it differs from the manifest;
        // the tablespaces' files themselves are checked through pg_tblspc's links.
        const ignore = info.tablespaces.length > 0 ? ['-i', 'tablespace_map'] : [];
        await run(join(opts.bin, 'pg_verifybackup'), ['-q', ...ignore, '-w', wal, data]);
        return `every file matches backup_manifest; WAL ${info.startWal}…${info.stopWal} parses`;
      })) &&
      (await step('recovery', async () => {
        server = await ScratchServer.start(opts.bin, data, scratch);
        const owner = await ScratchServer.userName((await stat(join(data, 'PG_VERSION'))).uid);
        const client = await server.client([...new Set([owner ?? 'postgres', 'postgres'])]);
        try {
          for (;;) {
            const r = await client.query('SELECT pg_is_in_recovery() AS r');
            if (!r.rows[0].r) break;
            await new Promise((res) => setTimeout(res, 200));
          }
        } finally {
          await client.end();
        }
        rtoMs = Date.now() - started;
        return `replayed WAL to the end of the backup and opened in ${(rtoMs / 1000).toFixed(1)} s`;
      })) &&
      (await step('amcheck', () => runAmcheck(server!, data))) &&
      (await step('sql checks', () =>
        runSqlChecks(server!, data, opts.sqlChecks ?? [], opts.checkDb ?? 'postgres'),
      ));
    return { snapshotId, ok, steps, rtoMs, ...(opts.keep ? { scratch } : {}) };
  } finally {
    await (server as ScratchServer | undefined)?.stop();
    if (!opts.keep) await rm(scratch, { recursive: true, force: true });
  }
}

/** The WAL segments from a backup's start to its end, fetched (and verified) into `dir`. */
async function fetchBackupWal(
  repo: Repository,
  source: string,
  info: { startWal: string; stopWal: string; timeline: number; segmentBytes: number },
  dir: string,
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const archive = new WalArchive(repo, source);
  const from = segmentNumber(info.startWal, info.segmentBytes);
  const to = segmentNumber(info.stopWal, info.segmentBytes);
  for (let n = from; n <= to; n++) {
    const name = segmentName(info.timeline, n, info.segmentBytes);
    const file = await archive.fetch(name);
    if (!file) throw new Error(`WAL segment ${name}, which the backup needs, is not in the archive`);
    await writeFile(join(dir, name), file.data);
  }
  return dir;
}

async function superuser(server: ScratchServer, data: string, db = 'postgres') {
  const owner = await ScratchServer.userName((await stat(join(data, 'PG_VERSION'))).uid);
  return server.client([...new Set([owner ?? 'postgres', 'postgres'])], db);
}

/** bt_index_check on every valid B-tree index of every database, where amcheck is installed. */
async function runAmcheck(server: ScratchServer, data: string): Promise<string> {
  const admin = await superuser(server, data);
  let databases: string[];
  try {
    const available = await admin.query("SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'");
    if (available.rowCount === 0) return 'skipped: amcheck is not installed';
    databases = (await admin.query('SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1')).rows.map(
      (r) => r.datname,
    );
  } finally {
    await admin.end();
  }
  let indexes = 0;
  for (const db of databases) {
    const client = await superuser(server, data, db);
    try {
      await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
      const list = await client.query(
        "SELECT c.oid::regclass::text AS name, c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready",
      );
      for (const row of list.rows) {
        try {
          await client.query('SELECT bt_index_check($1::regclass)', [row.oid]);
        } catch (err) {
          throw new Error(`index ${row.name} in database ${db}: ${(err as Error).message}`);
        }
        indexes++;
      }
    } finally {
      await client.end();
    }
  }
  return `${indexes} B-tree indexes in ${databases.length} databases check clean`;
}

/** Each check must run and must not answer false (or 0) in its first column. */
async function runSqlChecks(
  server: ScratchServer,
  data: string,
  checks: readonly string[],
  db: string,
): Promise<string> {
  if (checks.length === 0) return 'none given';
  const client = await superuser(server, data, db);
  try {
    for (const sql of checks) {
      let rows: Record<string, unknown>[];
      try {
        rows = (await client.query(sql)).rows;
      } catch (err) {
        throw new Error(`"${sql}" failed: ${(err as Error).message}`);
      }
      const first = rows[0] ? Object.values(rows[0])[0] : undefined;
      if (first === false || first === 0 || first === '0' || first === 'f')
        throw new Error(`"${sql}" answered ${String(first)}`);
    }
  } finally {
    await client.end();
  }
  return `${checks.length} passed`;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv('pg-server') });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(out.trim().split('\n').slice(-5).join('; ') || `exit ${code}`)),
    );
  });
}
