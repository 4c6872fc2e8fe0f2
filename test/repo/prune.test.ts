import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { checkRepository } from '../../lib/repo/check';
import type { Clock } from '../../lib/repo/clock';
import { Lock } from '../../lib/repo/lock';
import { pruneRepository } from '../../lib/repo/prune';
import { loadCondemned } from '../../lib/repo/prune-marks';
import type { Repository } from '../../lib/repo/repository';
import { backupFiles } from '../../lib/sources/files/backup';
import { Restorer } from '../../lib/sources/files/restorer';
import { makeTempRepo } from '../support/repo';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

/** A clock the test moves. */
function fakeClock(start = '2026-11-23T00:00:00Z'): Clock & { advance(ms: number): void } {
  let now = Date.parse(start);
  return { now: () => new Date(now), advance: (ms) => (now += ms) };
}

const HOUR = 3600_000;

/** Invariant 4: prune never deletes what a snapshot or a running backup needs; deletion is two-phase. */
describe('two-phase prune', () => {
  const tmp = useTempDir();
  let n = 0;

  async function setup(): Promise<{ repo: Repository; a: string; b: string }> {
    const { repo } = await makeTempRepo();
    const base = join(tmp(), `case-${n++}`);
    const a = join(base, 'a');
    const b = join(base, 'b');
    await mkdir(a, { recursive: true });
    await mkdir(b, { recursive: true });
    await writeFile(join(a, 'a.bin'), randomBytes(200_000));
    await writeFile(join(b, 'b.bin'), randomBytes(200_000));
    return { repo, a, b };
  }

  async function expectHealthy(repo: Repository) {
    const report = await checkRepository(repo, { readDataPercent: 100 });
    expect(report.errors).toEqual([]);
  }

  it('waits for a backup that started before the mark, then deletes', async () => {
    const { repo, a, b } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    await backupFiles(repo, [b], { source: 'b' });
    await repo.deleteSnapshot(first.snapshotId as never);
    // A backup is running: it took its lock before the mark exists and has not seen it.
    const running = await Lock.acquire(repo, 'backup');
    const blocked = await pruneRepository(repo);
    expect(blocked.marked.packs).toBeGreaterThan(0);
    expect(blocked.deleted.packs).toBe(0);
    expect(blocked.waiting).toBe(blocked.marked.packs);
    await running.release();
    const swept = await pruneRepository(repo);
    expect(swept.deleted.packs).toBe(blocked.marked.packs);
    expect((await loadCondemned(repo)).marks).toEqual([]);
    await expectHealthy(repo);
  });

  it('a backup that has seen the mark does not hold the sweep back, and does not reuse condemned data', async () => {
    const { repo, a } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    await repo.deleteSnapshot(first.snapshotId as never);
    const clock = fakeClock();
    const marked = await pruneRepository(repo, { graceMs: HOUR, clock });
    expect(marked.deleted.packs).toBe(0);
    expect(marked.waiting).toBeGreaterThan(0);
    // A new backup of the same data: it sees the mark, so it writes the data again instead of
    // pointing into packs about to be deleted.
    const again = await backupFiles(repo, [a], { source: 'a' });
    expect(again.snapshot.summary.blobsAdded).toBeGreaterThan(0);
    clock.advance(2 * HOUR);
    const swept = await pruneRepository(repo, { graceMs: HOUR, clock });
    expect(swept.deleted.packs).toBe(marked.marked.packs);
    await expectHealthy(repo);
    const target = join(tmp(), `restore-${n++}`);
    await new Restorer(repo).restore(again.snapshot.tree, target);
    expect(await describeTree(join(target, a))).toEqual(await describeTree(a));
  });

  it('honours the grace period', async () => {
    const { repo, a } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    await repo.deleteSnapshot(first.snapshotId as never);
    const clock = fakeClock();
    await pruneRepository(repo, { graceMs: 24 * HOUR, clock });
    clock.advance(23 * HOUR);
    expect((await pruneRepository(repo, { graceMs: 24 * HOUR, clock })).deleted.packs).toBe(0);
    clock.advance(2 * HOUR);
    expect((await pruneRepository(repo, { graceMs: 24 * HOUR, clock })).deleted.packs).toBeGreaterThan(0);
  });

  it('rescues a condemned pack that a snapshot written after the mark uses again', async () => {
    const { repo, a } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    const tree = first.snapshot.tree;
    await repo.deleteSnapshot(first.snapshotId as never);
    const clock = fakeClock();
    const marked = await pruneRepository(repo, { graceMs: HOUR, clock });
    expect(marked.marked.packs).toBeGreaterThan(0);
    // A backup that loaded the index before the mark commits a snapshot pointing into the condemned packs.
    await repo.saveSnapshot({ ...first.snapshot, tree, time: clock.now().toISOString() });
    clock.advance(2 * HOUR);
    const swept = await pruneRepository(repo, { graceMs: HOUR, clock });
    expect(swept.deleted.packs).toBe(0);
    expect(swept.rescued).toBe(marked.marked.packs);
    await expectHealthy(repo);
  });

  it('rescues packs used by a backup that commits and ends between the mark and the sweep (no grace)', async () => {
    const { repo, a } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    await repo.deleteSnapshot(first.snapshotId as never);
    // A backup that loaded the index before the mark is running...
    const running = await Lock.acquire(repo, 'backup');
    const report = await pruneRepository(repo, {
      beforeSweep: async () => {
        // ...and commits a snapshot that uses the condemned packs, then ends, before the sweep looks.
        await repo.saveSnapshot({ ...first.snapshot, time: new Date().toISOString() });
        await running.release();
      },
    });
    expect(report.marked.packs).toBeGreaterThan(0);
    expect(report.deleted.packs).toBe(0);
    expect(report.rescued).toBe(report.marked.packs);
    await expectHealthy(repo);
  });

  it('repacks partly used packs and keeps every snapshot whole', async () => {
    const { repo } = await makeTempRepo();
    const dir = join(tmp(), `repack-${n++}`);
    await mkdir(dir);
    // Many small files share one pack; forgetting the snapshot that alone holds most of them leaves it partly used.
    for (let i = 0; i < 40; i++) await writeFile(join(dir, `f${i}`), randomBytes(2000));
    const big = await backupFiles(repo, [dir], { source: 's' });
    for (let i = 5; i < 40; i++) await rm(join(dir, `f${i}`));
    const small = await backupFiles(repo, [dir], { source: 's' });
    await repo.deleteSnapshot(big.snapshotId as never);
    const report = await pruneRepository(repo);
    expect(report.repacked.packs).toBeGreaterThan(0);
    expect(report.deleted.packs).toBeGreaterThan(0);
    await expectHealthy(repo);
    const target = join(tmp(), `repack-restore-${n++}`);
    await repo.loadIndex();
    await new Restorer(repo, { verify: true }).restore(small.snapshot.tree, target);
    expect(await describeTree(join(target, dir))).toEqual(await describeTree(dir));
  });

  it('removes temp files interrupted writes left, once old and only while no backup runs', async () => {
    const { repo, dir } = await makeTempRepo();
    const old = join(dir, 'data', '.tmp-0123456789abcdef');
    const fresh = join(dir, 'data', '.tmp-fedcba9876543210');
    const oldPut = join(dir, 'snapshots', '.tmp-00000000000000aa');
    await mkdir(join(dir, 'data'), { recursive: true });
    await mkdir(join(dir, 'snapshots'), { recursive: true });
    for (const f of [old, fresh, oldPut]) await writeFile(f, 'partial pack');
    const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
    await utimes(old, twoHoursAgo, twoHoursAgo);
    await utimes(oldPut, twoHoursAgo, twoHoursAgo);

    const running = await Lock.acquire(repo, 'backup');
    expect((await pruneRepository(repo)).tempFiles).toBe(0);
    expect(existsSync(old)).toBe(true);
    await running.release();

    expect((await pruneRepository(repo)).tempFiles).toBe(2);
    expect([existsSync(old), existsSync(oldPut), existsSync(fresh)]).toEqual([false, false, true]);
  });

  it('dry run marks nothing', async () => {
    const { repo, a } = await setup();
    const first = await backupFiles(repo, [a], { source: 'a' });
    await repo.deleteSnapshot(first.snapshotId as never);
    const dry = await pruneRepository(repo, { dryRun: true });
    expect(dry.marked.packs).toBeGreaterThan(0);
    expect((await loadCondemned(repo)).marks).toEqual([]);
  });
});
