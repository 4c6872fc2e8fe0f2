import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { purgeRepository } from '../../lib/pipeline/purge';
import { purgeClaimed } from '../../lib/pipeline/purge-due';
import { checkRepository } from '../../lib/repo/check';
import { backupFiles } from '../../lib/sources/files/backup';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

const NOW = new Date('2026-12-02T12:00:00Z');
const daysAgo = (d: number) => new Date(NOW.getTime() - d * 86_400_000);

describe('purge stage', () => {
  it('forgets what the policy removes, keeps held and young snapshots, leaves unmanaged sources alone, prunes clean', async () => {
    const { repo } = await makeTempRepo();
    const data = await makeTempDir();
    const ids: Record<number, string> = {};
    for (const d of [40, 20, 10, 2, 1]) {
      // Each day's saves differ, so every snapshot has data of its own for prune to free.
      await writeFile(join(data, 'save.bin'), Buffer.alloc(200_000, d));
      ids[d] = (await backupFiles(repo, [data], { source: 'saves', now: () => daysAgo(d) })).snapshotId;
    }
    const other = (await backupFiles(repo, [data], { source: 'someone-else', now: () => daysAgo(60) }))
      .snapshotId;
    const config = parseConfig(`version: 1
repositories:
  main: { url: ./r, residency: RU }
sources:
  saves:
    type: files
    paths: [./x]
    repository: main
    dataClass: personal
    retention: { keepLast: 1, minimum: 5d, maximum: 30d }
`);
    const catalog = await EmbeddedCatalog.open();
    await catalog.putHold({
      source: 'saves',
      id: 'case-17',
      snapshots: [ids[40]!],
      reason: 'court order',
      createdBy: 'dpo',
      createdAt: NOW.toISOString(),
    });

    const dry = await purgeRepository({
      config,
      catalog,
      repo,
      repository: 'main',
      now: NOW,
      graceMs: 0,
      dryRun: true,
    });
    expect(dry.sources[0]!.removed.map((r) => r.id).sort()).toEqual([ids[20], ids[10]].sort());
    expect((await repo.listSnapshots()).length).toBe(6);

    const report = await purgeRepository({ config, catalog, repo, repository: 'main', now: NOW, graceMs: 0 });
    expect(report.sources).toEqual([
      {
        source: 'saves',
        kept: 3,
        removed: expect.arrayContaining([
          { id: ids[20], time: daysAgo(20).toISOString(), reason: 'no keep rule keeps it' },
          { id: ids[10], time: daysAgo(10).toISOString(), reason: 'no keep rule keeps it' },
        ]),
        held: 1,
        heldPastMaximum: [{ id: ids[40], hold: 'case-17' }],
      },
    ]);
    expect(report.unmanaged).toBe(1);
    const left = (await repo.listSnapshots()).map((s) => s.id).sort();
    expect(left).toEqual([ids[40], ids[2], ids[1], other].sort());
    expect(report.prune.marked.packs + report.prune.repacked.packs).toBeGreaterThan(0);
    expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
  });
  it('a purge is in the audit trail before it deletes: a trail that cannot be written stops it, nothing forgotten', async () => {
    const { repo } = await makeTempRepo();
    const data = await makeTempDir();
    for (const d of [50, 40, 1]) {
      await writeFile(join(data, 'save.bin'), Buffer.alloc(1000, d));
      await backupFiles(repo, [data], { source: 'saves', now: () => daysAgo(d) });
    }
    const config = parseConfig(`version: 1
purge: { grace: 0h }
repositories:
  main: { url: ./r, residency: RU }
sources:
  saves:
    type: files
    paths: [./x]
    repository: main
    dataClass: personal
    retention: { keepLast: 1, maximum: 30d }
`);
    const catalog = await EmbeddedCatalog.open();
    const deps = { config, catalog, open: async () => repo, owner: 'test' };
    const down = async () => {
      throw new Error('audit storage down');
    };
    await expect(purgeClaimed({ ...deps, record: down }, 'main', NOW)).rejects.toThrow('audit storage down');
    expect(await repo.listSnapshots()).toHaveLength(3);

    const recorded: { action: string; outcome: string }[] = [];
    const record = async (e: { action: string; outcome: string }) => {
      // The intent is recorded while every snapshot is still there.
      if (e.outcome === 'allowed') expect(await repo.listSnapshots()).toHaveLength(3);
      recorded.push(e);
    };
    await purgeClaimed({ ...deps, record }, 'main', NOW);
    expect(await repo.listSnapshots()).toHaveLength(1);
    expect(recorded.map((e) => [e.action, e.outcome])).toEqual([
      ['delete', 'allowed'],
      ['delete', 'succeeded'],
    ]);
  });
});
