import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { acceptMessage, scheduleDue, startReady } from '../../lib/pipeline/orchestrate';
import { runJob } from '../../lib/pipeline/run-job';
import type { Repository } from '../../lib/repo/repository';
import { flipBit, objectsIn } from '../support/damage';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

async function setUp(verify: string) {
  const data = await makeTempDir();
  await writeFile(join(data, 'save.bin'), Buffer.alloc(300_000, 7).fill(3, 1000, 2000));
  const config = parseConfig(`version: 1
repositories:
  main: { url: ./unused, residency: RU }
sources:
  saves:
    type: files
    paths: ["${data}"]
    repository: main
    dataClass: game-content
    events: [backup-now]
    verify: ${verify}
`);
  const catalog = await EmbeddedCatalog.open();
  const { repo, dir } = await makeTempRepo();
  const deps = {
    config,
    catalog,
    openRepository: async () => ({ repo: repo as Repository, close: async () => undefined }),
  };
  return { config, catalog, repo, dir, deps };
}

/** Runs every job that can start, until none is left queued. */
async function drain(s: Awaited<ReturnType<typeof setUp>>) {
  const done = [];
  for (;;) {
    const started = await startReady(s.config, s.catalog, 'w', new Date());
    if (started.length === 0) return done;
    for (const d of started) done.push((await runJob(s.deps, d.job)).job);
  }
}

describe('verify stage', () => {
  it('after each backup, a verify job reads the data back and records the verdict', async () => {
    const s = await setUp('{ depth: full }');
    await acceptMessage(
      s.config,
      s.catalog,
      { id: 'm', body: '{"type":"backup-now","source":"saves"}' },
      new Date(),
    );
    const jobs = await drain(s);
    expect(jobs.map((j) => [j.kind, j.state])).toEqual([
      ['backup', 'succeeded'],
      ['verify', 'succeeded'],
    ]);
    expect(await s.catalog.getSourceState('saves')).toMatchObject({
      lastVerifyOk: true,
      lastVerifyDetail: 'full: clean (100% of the data read back)',
    });
  });

  it('damaged data fails the verify job, naming the object, and the source state says so', async () => {
    const s = await setUp('{ depth: full }');
    await acceptMessage(
      s.config,
      s.catalog,
      { id: 'm', body: '{"type":"backup-now","source":"saves"}' },
      new Date(),
    );
    const [backup] = await startReady(s.config, s.catalog, 'w', new Date());
    await runJob(s.deps, backup!.job);
    const [pack] = await objectsIn(s.dir, 'data');
    await flipBit(pack!, -30); // inside the sealed header, whatever the pack's size
    const [verify] = await drain(s);
    expect(verify).toMatchObject({
      kind: 'verify',
      state: 'failed',
      error: expect.stringMatching(/verification failed: full: \d+ problem/),
    });
    expect(verify!.error).toContain(pack!.slice(s.dir.length + 1));
    expect(await s.catalog.getSourceState('saves')).toMatchObject({ lastVerifyOk: false });
    // The backup's recovery point is not overwritten by the failure of a verification.
    expect((await s.catalog.getSourceState('saves'))!.lastError).toBeUndefined();
  });

  it('a verify schedule makes verify jobs of its own, structure only when asked', async () => {
    const s = await setUp('{ schedule: "0 5 * * 0", depth: structure }');
    const jobs = await scheduleDue(s.config, s.catalog, new Date('2026-12-02T10:00:00Z'));
    expect(jobs.map((j) => [j.kind, j.trigger.ref])).toEqual([
      ['verify', 'verify 0 5 * * 0 @ 2026-11-29T05:00:00.000Z'],
    ]);
    const [done] = await drain(s);
    expect(done).toMatchObject({ kind: 'verify', state: 'succeeded' });
    expect((await s.catalog.getSourceState('saves'))!.lastVerifyDetail).toBe('structure: clean');
  });
});
