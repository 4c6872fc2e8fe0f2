import { spawn } from 'node:child_process';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BlobId } from '../../repo/ids';
import type { Repository } from '../../repo/repository';
import type { PgDumpInfo, Snapshot, SnapshotRecord } from '../../repo/snapshot';
import type { WorkerPool } from '../../repo/worker-pool';
import { childEnv } from '../child-env';
import { ChunkSealer } from '../chunk-sealer';
import { TreeBuilder } from '../tree-builder';
import { withWriteSession } from '../write-session';
import { withDbname } from './conninfo';
import { pgSnapshot } from './pg-snapshot';
import { connect, PgServerError } from './server';
import { filesBelow, openFilesUnder } from './spool';

/** Tag every logical dump carries. */
export const PG_DUMP_TAG = 'pg-dump';
/** How often the spool is looked at for files pg_dump has finished. */
const SPOOL_POLL_MS = 150;

export interface PgDumpOptions {
  source: string;
  conninfo: string;
  bin: string;
  dbname?: string;
  excludeTables?: string[];
  excludeTableData?: string[];
  jobs?: number;
  tags?: string[];
  dataClass?: string;
  onProgress?: (bytes: number) => void;
  /** Worker threads that compress and seal new chunks. */
  pool?: WorkerPool;
}

/** The logical dumps of a source, oldest first. */
export function dumpsOf(snapshots: readonly SnapshotRecord[], source: string): SnapshotRecord[] {
  return snapshots
    .filter((s) => s.snapshot.source === source && s.snapshot.postgres?.kind === 'dump')
    .sort((a, b) => a.snapshot.time.localeCompare(b.snapshot.time));
}

/**
 * A logical backup: pg_dump's directory format with parallel jobs into a spool folder, each file going
 * into the repository (and off the disk) as soon as pg_dump has closed it, so the local disk holds only
 * the files being written, one per job. The snapshot's `dump/` folder is the dump directory, for
 * pg_restore (restore-dump) to read back in parallel and selectively.
 */
export async function dumpPostgres(
  repo: Repository,
  opts: PgDumpOptions,
): Promise<{ snapshotId: string; snapshot: Snapshot }> {
  const started = Date.now();
  const conninfo = opts.dbname ? withDbname(opts.conninfo, opts.dbname) : opts.conninfo;
  const client = await connect(conninfo);
  let database: string;
  let serverVersion: number;
  try {
    database = (await client.query('SELECT current_database() AS d')).rows[0].d;
    serverVersion = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num);
  } finally {
    await client.end().catch(() => undefined);
  }
  return withWriteSession(
    repo,
    { dataClass: opts.dataClass },
    async ({ writer }) => {
      const spool = await mkdtemp(join(tmpdir(), 'zapas-dump-'));
      const dir = join(spool, 'dump');
      const builder = new TreeBuilder();
      const sealer = new ChunkSealer(writer, repo.chunker, repo.keyring, opts.pool);
      let bytes = 0;
      let files = 0;
      try {
        const args = [
          '-d',
          conninfo,
          '-F',
          'directory',
          '-j',
          String(opts.jobs ?? 2),
          '-Z',
          '0',
          '--no-sync',
          '-f',
          dir,
          ...(opts.excludeTables ?? []).flatMap((t) => ['--exclude-table', t]),
          ...(opts.excludeTableData ?? []).flatMap((t) => ['--exclude-table-data', t]),
        ];
        let stderr = '';
        const tool = spawn(join(opts.bin, 'pg_dump'), args, {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: childEnv('pg-client'),
        });
        tool.stderr!.on('data', (d) => {
          stderr += d;
        });
        let exitCode: number | undefined;
        const exited = new Promise<number>((resolve, reject) => {
          tool.on('error', reject);
          tool.on('close', (code) => {
            exitCode = code ?? 1;
            resolve(exitCode);
          });
        });
        const done = new Set<string>();
        const take = async (rel: string) => {
          const path = join(dir, rel);
          const info = await stat(path);
          const content = await storeFile(path, sealer, (n) => {
            bytes += n;
            opts.onProgress?.(bytes);
          });
          const now = String(BigInt(Date.now()) * 1_000_000n);
          builder.add(
            ['dump', ...rel.split('/')].map((p) => Buffer.from(p)),
            {
              type: 'file',
              mode: 0o600,
              uid: 0,
              gid: 0,
              mtimeNs: String(BigInt(Math.round(info.mtimeMs)) * 1_000_000n),
              ctimeNs: now,
              inode: '0',
              device: '0',
              links: 1,
              size: info.size,
              content,
            },
          );
          files++;
          done.add(rel);
          await rm(path, { force: true });
        };
        // While pg_dump runs: take every file no process of it holds open (written and closed).
        while (exitCode === undefined) {
          await Promise.race([exited, new Promise((r) => setTimeout(r, SPOOL_POLL_MS))]);
          if (exitCode !== undefined) break;
          const open = await openFilesUnder(tool.pid!, dir);
          if (!open) continue;
          for (const rel of await filesBelow(dir))
            if (!done.has(rel) && !open.has(join(dir, rel))) await take(rel);
        }
        if ((await exited) !== 0) throw new PgServerError(`pg_dump failed: ${lastLines(stderr)}`);
        for (const rel of await filesBelow(dir)) if (!done.has(rel)) await take(rel);
        if (!done.has('toc.dat')) throw new PgServerError('pg_dump ended without writing toc.dat');
      } finally {
        await rm(spool, { recursive: true, force: true });
      }
      return { tree: await builder.save(writer), files, bytes, writer };
    },
    async ({ tree, files, bytes, writer }) => {
      const info: PgDumpInfo = {
        kind: 'dump',
        database,
        serverVersion,
        excludedTables: opts.excludeTables ?? [],
        excludedTableData: opts.excludeTableData ?? [],
      };
      const snapshot = pgSnapshot({
        source: opts.source,
        time: new Date().toISOString(),
        kindTag: PG_DUMP_TAG,
        ...(opts.tags ? { tags: opts.tags } : {}),
        ...(opts.dataClass ? { dataClass: opts.dataClass } : {}),
        tree,
        files,
        bytes,
        writer,
        startedMs: started,
        postgres: info,
      });
      return { snapshotId: await repo.saveSnapshot(snapshot), snapshot };
    },
  );
}

/** Stores a file through the chunker; returns its blob ids. */
async function storeFile(path: string, sealer: ChunkSealer, onBytes: (n: number) => void): Promise<BlobId[]> {
  const handle = await open(path, 'r');
  try {
    return await sealer.store(
      (buf, offset, length) => handle.read(buf, offset, length, null).then((r) => r.bytesRead),
      undefined,
      onBytes,
    );
  } finally {
    await handle.close();
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('; ') || 'no message';
}
