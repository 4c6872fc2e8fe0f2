import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { acceptMessage, startReady } from '../../lib/pipeline/orchestrate';
import { runJob } from '../../lib/pipeline/run-job';
import { checkRepository } from '../../lib/repo/check';
import type { Repository } from '../../lib/repo/repository';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

async function setUp() {
  const data = await makeTempDir();
  await mkdir(join(data, 'saves'));
  await writeFile(join(data, 'saves', 'player-1.sav'), 'level 7, sword of dawn');
  await writeFile(join(data, 'saves', 'scratch.tmp'), 'not kept');
  const config = parseConfig(`version: 1
repositories:
  main: { url: ./unused, residency: RU }
sources:
  saves:
    type: files
    paths: ["${join(data, 'saves')}"]
    excludes: ["*.tmp"]
    repository: main
    dataClass: game-content
    events: [backup-now]
  lost:
    type: files
    paths: ["${join(data, 'nowhere')}"]
    repository: main
    dataClass: game-content
    events: [backup-now]
  bucket:
    type: s3
    bucket: platform-assets
    repository: main
    dataClass: game-content
    events: [backup-now]
`);
  const catalog = await EmbeddedCatalog.open();
  const { repo } = await makeTempRepo();
  const deps = {
    config,
    catalog,
    openRepository: async (name: string) => {
      expect(name).toBe('main');
      return { repo: repo as Repository, close: async () => undefined };
    },
  };
  return { config, catalog, repo, deps };
}

describe('running a backup job', () => {
  it('backs the source up, marks the job succeeded with its snapshot, records the recovery point, frees the source', async () => {
    const { config, catalog, repo, deps } = await setUp();
    await acceptMessage(
      config,
      catalog,
      { id: 'm1', body: '{"type":"backup-now","source":"saves"}' },
      new Date(),
    );
    const [started] = await startReady(config, catalog, 'w', new Date());
    const { job, snapshotId } = await runJob(deps, started!.job);
    expect(job).toMatchObject({ state: 'succeeded', snapshotId });
    const snapshots = await repo.listSnapshots();
    expect(snapshots.map((s) => [s.id, s.snapshot.source, s.snapshot.tags])).toEqual([
      [snapshotId, 'saves', [`job:${job.id}`]],
    ]);
    expect(snapshots[0]!.snapshot.summary.filesNew).toBe(1); // scratch.tmp excluded
    expect(await catalog.getSourceState('saves')).toMatchObject({
      lastSnapshotId: snapshotId,
      lastJobId: job.id,
    });
    expect((await checkRepository(repo)).errors).toEqual([]);
    // The source's lease is free: the next job starts.
    await acceptMessage(
      config,
      catalog,
      { id: 'm2', body: '{"type":"backup-now","source":"saves"}' },
      new Date(),
    );
    expect(await startReady(config, catalog, 'w', new Date())).toHaveLength(1);
  });

  it('a backup that fails marks the job failed with the reason, records the failure, and frees the source', async () => {
    const { config, catalog, repo, deps } = await setUp();
    for (const source of ['lost', 'bucket'])
      await acceptMessage(
        config,
        catalog,
        { id: source, body: `{"type":"backup-now","source":"${source}"}` },
        new Date(),
      );
    const started = await startReady(config, catalog, 'w', new Date());
    const outcomes = await Promise.all(started.map((d) => runJob(deps, d.job)));
    const bySource = Object.fromEntries(outcomes.map((o) => [o.job.source, o.job]));
    expect(bySource.lost).toMatchObject({ state: 'failed', error: expect.stringContaining('nowhere') });
    expect(bySource.bucket).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/s3 sources are not backed up yet/),
    });
    expect(await catalog.getSourceState('lost')).toMatchObject({
      lastError: expect.stringContaining('nowhere'),
    });
    expect(await repo.listSnapshots()).toEqual([]);
    await acceptMessage(
      config,
      catalog,
      { id: 'again', body: '{"type":"backup-now","source":"lost"}' },
      new Date(),
    );
    expect(await startReady(config, catalog, 'w', new Date())).toHaveLength(1);
  });
});
