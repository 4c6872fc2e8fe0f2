/**
 * The verify stage: proves a source's backups can be read back, as deep as its policy says —
 * `structure` (every index, snapshot and tree opens and references only stored blobs), `sample` (and a
 * share of the packs read back and authenticated), `full` (every pack), `restore` (postgres: a restore
 * into scratch and a throw-away server, zapas pg verify). The verdict goes to the source's state: the
 * recovery point counts only what was last proven readable.
 */
import type { Catalog } from '../catalog/catalog';
import { checkRepository } from '../repo/check';
import type { Repository } from '../repo/repository';
import type { WorkerPool } from '../repo/worker-pool';
import type { SourceConfig } from './config/schema';

export interface VerifyResult {
  ok: boolean;
  depth: SourceConfig['verify']['depth'];
  detail: string;
  durationMs: number;
}

export interface VerifyDeps {
  catalog: Catalog;
  repo: Repository;
  pool?: WorkerPool;
  /** Runs zapas pg verify for a postgres source (the runtime knows the binaries and restore_command). */
  pgVerify?: (source: string) => Promise<{ ok: boolean; detail: string }>;
  now?: () => Date;
}

export async function verifySource(
  deps: VerifyDeps,
  id: string,
  source: SourceConfig,
): Promise<VerifyResult> {
  const started = Date.now();
  const depth = source.verify.depth;
  let ok: boolean;
  let detail: string;
  if (depth === 'restore') {
    if (!deps.pgVerify)
      throw new Error(`source "${id}": restore verification is not available in this runtime`);
    ({ ok, detail } = await deps.pgVerify(id));
  } else {
    const percent =
      depth === 'full' ? 100 : depth === 'sample' ? Math.round(source.verify.share * 1000) / 10 : 0;
    const report = await checkRepository(deps.repo, {
      readDataPercent: percent,
      ...(deps.pool ? { pool: deps.pool } : {}),
    });
    ok = report.errors.length === 0;
    detail = ok
      ? `${depth}: clean${percent > 0 ? ` (${percent}% of the data read back)` : ''}`
      : `${depth}: ${report.errors.length} problem(s): ${report.errors
          .slice(0, 3)
          .map((e) => `${e.object}: ${e.message}`)
          .join('; ')}`;
  }
  await deps.catalog.updateSourceState(id, {
    lastVerifiedAt: (deps.now?.() ?? new Date()).toISOString(),
    lastVerifyOk: ok,
    lastVerifyDetail: detail,
  });
  return { ok, depth, detail, durationMs: Date.now() - started };
}
