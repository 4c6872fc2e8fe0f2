import { randomBytes } from 'node:crypto';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import {
  acceptLandingObject,
  commitIngest,
  ingestPart,
  planIngest,
  planParts,
} from '../../lib/pipeline/ingest';
import { startReady } from '../../lib/pipeline/orchestrate';
import { checkRepository } from '../../lib/repo/check';
import type { BlobId } from '../../lib/repo/ids';
import type { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { makeTempRepo } from '../support/repo';
import { withS3Server } from '../support/s3-server';

const s3 = withS3Server();
const MIB = 1024 * 1024;

function landingStorage(): S3Storage {
  const server = s3();
  return new S3Storage({
    bucket: server.bucket,
    endpoint: server.endpoint,
    region: server.region,
    credentials: server.credentials,
  });
}

const config = () =>
  parseConfig(`version: 1
repositories:
  main: { url: ./unused, residency: RU }
sources:
  saves-export:
    type: export
    service: saves
    landing: s3://${s3().bucket}/exports/saves/
    repository: main
    dataClass: personal
    priority: 6
    retention: { maximum: 3y }
`);

/** The content of the file node at `path` in a snapshot's tree, read back blob by blob. */
async function fileContent(repo: Repository, tree: BlobId, path: string[]): Promise<Buffer> {
  let at = await repo.loadTree(tree);
  for (const [i, name] of path.entries()) {
    const node = at.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`no ${name} in the tree`);
    if (i === path.length - 1)
      return Buffer.concat(await Promise.all((node.content ?? []).map((id) => repo.loadBlob(id))));
    at = await repo.loadTree(node.subtree!);
  }
  throw new Error('empty path');
}

async function landed(bytes: Buffer, key = 'exports/saves/2026-12-02.ndjson') {
  const landing = landingStorage();
  await landing.put(key, bytes);
  const cfg = config();
  const catalog = await EmbeddedCatalog.open();
  const { repo } = await makeTempRepo();
  const now = new Date('2026-12-02T10:00:00Z');
  const accepted = await acceptLandingObject(
    cfg,
    catalog,
    { bucket: s3().bucket, key, size: bytes.length, etag: '"v1"' },
    now,
  );
  if (!accepted) throw new Error('not accepted');
  const [started] = await startReady(cfg, catalog, 'orchestrate-1', now);
  expect(started?.job.id).toBe(accepted.job.id);
  expect(started?.runner).toBe('function');
  return { landing, cfg, catalog, repo, job: started!.job, key };
}

describe('ingest: a landing object in byte ranges, committed by the orchestrator', () => {
  it('plans ranges that cover an object exactly, an empty one as one empty part', () => {
    expect(planParts(0, 10)).toEqual([{ index: 0, offset: 0, length: 0 }]);
    expect(planParts(25, 10).map((p) => [p.offset, p.length])).toEqual([
      [0, 10],
      [10, 10],
      [20, 5],
    ]);
    expect(() => planParts(-1)).toThrow(/bad object size/);
  });

  it('parts in any order, one twice, make one snapshot whose file is the object; then the plaintext goes', async () => {
    // Random bytes and a repeated block: the repeat deduplicates across parts.
    const block = randomBytes(MIB);
    const bytes = Buffer.concat([randomBytes(2 * MIB), block, block, randomBytes(MIB / 2)]);
    const { landing, cfg, catalog, repo, job, key } = await landed(bytes);
    const work = await planIngest(catalog, job, landing, MIB);
    expect(work.map((w) => w.index)).toEqual([0, 1, 2, 3, 4]);
    const deps = { config: cfg, catalog, repo, landing, worker: 'ingest-a' };
    const order = [3, 0, 4, 0, 2, 1];
    const complete: boolean[] = [];
    for (const i of order) complete.push((await ingestPart(deps, work[i]!)).complete);
    // Only the part that filled the last hole says the job may be committed.
    expect(complete).toEqual([false, false, false, false, false, true]);
    // Before commit, nothing references the packs yet and the landing object is still there.
    expect(await repo.listSnapshots()).toHaveLength(0);
    expect(await landing.head(key)).toBeDefined();

    const done = await commitIngest({ config: cfg, catalog, repo, landing }, job.id);
    expect(done?.state).toBe('succeeded');
    const snapshots = await repo.listSnapshots();
    expect(snapshots).toHaveLength(1);
    const snap = snapshots[0]!;
    expect(done?.snapshotId).toBe(snap.id);
    expect(snap.snapshot.source).toBe('saves-export');
    expect(snap.snapshot.dataClass).toBe('personal');
    expect(snap.snapshot.paths).toEqual([`s3://${s3().bucket}/${key}`]);
    expect((await fileContent(repo, snap.snapshot.tree, key.split('/'))).equals(bytes)).toBe(true);
    expect(await landing.head(key)).toBeUndefined();
    expect((await catalog.getSourceState('saves-export'))?.lastSnapshotId).toBe(snap.id);
    const report = await checkRepository(repo, { readDataPercent: 100 });
    expect(report.errors).toEqual([]);

    // Again (a redelivered "complete" message): the same job, no second snapshot.
    const again = await commitIngest({ config: cfg, catalog, repo, landing }, job.id);
    expect(again?.snapshotId).toBe(snap.id);
    expect(await repo.listSnapshots()).toHaveLength(1);
    // A part redelivered after the commit is skipped: the job is not running.
    expect(await ingestPart(deps, work[2]!)).toEqual({ stored: false, complete: false });
  });

  it('the same landing object event twice is one job; an object outside every export prefix is none', async () => {
    const cfg = config();
    const catalog = await EmbeddedCatalog.open();
    const object = { bucket: s3().bucket, key: 'exports/saves/a.ndjson', size: 3, etag: '"x"' };
    const a = await acceptLandingObject(cfg, catalog, object, new Date());
    const b = await acceptLandingObject(cfg, catalog, object, new Date());
    expect(a?.created).toBe(true);
    expect(b?.created).toBe(false);
    expect(b?.job.id).toBe(a?.job.id);
    expect(b?.job.input).toEqual(object);
    expect(
      await acceptLandingObject(cfg, catalog, { ...object, key: 'exports/other/a.ndjson' }, new Date()),
    ).toBeUndefined();
  });

  it('a commit that finds a blob gone fails the job clearly and keeps the landing object', async () => {
    const { landing, cfg, catalog, repo, job, key } = await landed(randomBytes(MIB));
    const [w] = await planIngest(catalog, job, landing, MIB);
    await ingestPart({ config: cfg, catalog, repo, landing, worker: 'ingest-a' }, w!);
    const [part] = await catalog.listParts(job.id);
    await catalog.putPart({ ...part!, blobs: [...part!.blobs, 'ff'.repeat(32)] });
    const failed = await commitIngest({ config: cfg, catalog, repo, landing }, job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.error).toMatch(/part 0 of s3:\/\/.*: blob ffffffffffff is no longer in the repository/);
    expect(await repo.listSnapshots()).toHaveLength(0);
    expect(await landing.head(key)).toBeDefined();
    expect((await catalog.getSourceState('saves-export'))?.lastError).toBe(failed?.error);
  });

  it('a landing object deleted before the commit fails the job, naming it', async () => {
    const { landing, cfg, catalog, repo, job, key } = await landed(randomBytes(1000));
    const [w] = await planIngest(catalog, job, landing, MIB);
    await ingestPart({ config: cfg, catalog, repo, landing, worker: 'ingest-a' }, w!);
    await landing.delete(key);
    const failed = await commitIngest({ config: cfg, catalog, repo, landing }, job.id);
    expect(failed?.state).toBe('failed');
    expect(failed?.error).toBe(
      `landing object s3://${s3().bucket}/${key} was deleted before its backup was committed`,
    );
    await expect(planIngest(catalog, { ...job, id: 'j-x' }, landing)).rejects.toThrow(/is not there/);
  });
  it('a trail that cannot be written after the commit: the job stays succeeded, the plaintext goes, the audit error is thrown', async () => {
    const { landing, cfg, catalog, repo, job, key } = await landed(randomBytes(1000));
    const [w] = await planIngest(catalog, job, landing, MIB);
    await ingestPart({ config: cfg, catalog, repo, landing, worker: 'ingest-a' }, w!);
    const record = async () => {
      throw new Error('audit storage down');
    };
    await expect(commitIngest({ config: cfg, catalog, repo, landing, record }, job.id)).rejects.toThrow(
      'audit storage down',
    );
    const after = await catalog.getJob(job.id);
    expect(after?.state).toBe('succeeded');
    expect(after?.error).toBeUndefined();
    expect(await repo.listSnapshots()).toHaveLength(1);
    expect(await landing.head(key)).toBeUndefined();
  });

  it('a landing object deleted before the commit is a failed backup in the trail too', async () => {
    const { landing, cfg, catalog, repo, job, key } = await landed(randomBytes(1000));
    const [w] = await planIngest(catalog, job, landing, MIB);
    await ingestPart({ config: cfg, catalog, repo, landing, worker: 'ingest-a' }, w!);
    await landing.delete(key);
    const recorded: { action: string; outcome: string; target: Record<string, string> }[] = [];
    const record = async (e: (typeof recorded)[number]) => {
      recorded.push(e);
    };
    const failed = await commitIngest({ config: cfg, catalog, repo, landing, record }, job.id);
    expect(failed?.state).toBe('failed');
    expect(recorded.map((e) => [e.action, e.outcome, e.target.job])).toEqual([['backup', 'failed', job.id]]);
  });
});
