import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openCatalogFolder } from '../../lib/catalog/catalog-folder';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { CatalogError } from '../../lib/catalog/errors';
import { jobIdOf } from '../../lib/catalog/jobs';
import { makeTempDir } from '../support/temp';

const NOW = '2026-12-07T10:00:00.000Z';
const job = (key: string, over: Record<string, unknown> = {}) => ({
  id: jobIdOf(key),
  kind: 'backup',
  source: 'saves',
  state: 'succeeded',
  trigger: { kind: 'schedule', ref: '*/15 * * * *' },
  priority: 7,
  attempts: 1,
  createdAt: NOW,
  updatedAt: NOW,
  endedAt: NOW,
  snapshotId: 'abc',
  ...over,
});

/** A catalog.json as zapas serve wrote it before the catalog was a database. */
const legacy = () => ({
  version: 1,
  jobs: {
    [jobIdOf('a')]: job('a'),
    [jobIdOf('b')]: job('b', { state: 'running', endedAt: undefined, worker: 'serve-9' }),
    // Ended long before the retention period: imported, then pruned.
    [jobIdOf('old')]: job('old', {
      createdAt: '2020-01-01T00:00:00.000Z',
      endedAt: '2020-01-01T00:00:00.000Z',
    }),
  },
  leases: {
    'source:saves': { name: 'source:saves', owner: jobIdOf('b'), expiresAt: Date.parse(NOW) + 3_600_000 },
  },
  sources: { saves: { source: 'saves', lastSnapshotId: 'abc', lastSnapshotAt: NOW } },
  slots: { 'saves\u0000*/15 * * * *': '2026-12-07T10:00Z' },
  holds: {
    'saves\u0000case-1': {
      source: 'saves',
      id: 'case-1',
      reason: 'court',
      createdBy: 'dpo',
      createdAt: NOW,
    },
  },
  parts: {
    [`${jobIdOf('b')}#0`]: {
      jobId: jobIdOf('b'),
      index: 0,
      of: 2,
      offset: 0,
      length: 5,
      blobs: ['x'],
      worker: 'w',
    },
  },
});

const clock = { now: () => new Date(NOW) };

describe('a state folder with the catalog.json of an earlier zapas', () => {
  it('is imported once into catalog.db; the old file is kept aside as catalog.json.imported', async () => {
    const dir = await makeTempDir();
    const text = JSON.stringify(legacy());
    await writeFile(join(dir, 'catalog.json'), text, { mode: 0o600 });
    const lines: string[] = [];
    const catalog = await openCatalogFolder(dir, { clock, log: (l) => lines.push(l) });
    try {
      expect(await catalog.getJob(jobIdOf('a'))).toEqual(job('a'));
      expect(await catalog.getJob(jobIdOf('b'))).toMatchObject({ state: 'running', worker: 'serve-9' });
      expect(await catalog.getJob(jobIdOf('old'))).toBeUndefined();
      expect(await catalog.acquireLease('source:saves', 'other', 1000)).toBeUndefined();
      expect(await catalog.getSourceState('saves')).toEqual(legacy().sources.saves);
      expect(await catalog.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-07T10:00Z')).toBe(false);
      expect(await catalog.claimScheduleSlot('saves', '*/15 * * * *', '2026-12-07T10:15Z')).toBe(true);
      expect((await catalog.listHolds('saves')).map((h) => h.id)).toEqual(['case-1']);
      expect(await catalog.listParts(jobIdOf('b'))).toHaveLength(1);
    } finally {
      catalog.close();
    }
    expect(lines.join('\n')).toMatch(/imported 3 jobs, 1 holds and 1 schedule slots from .*catalog\.json/);
    expect(existsSync(join(dir, 'catalog.json'))).toBe(false);
    expect(await readFile(join(dir, 'catalog.json.imported'), 'utf8')).toBe(text);
    expect((await stat(join(dir, 'catalog.db'))).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'catalog.db.importing'))).toBe(false);

    // Opened again: the database as it is, nothing imported twice.
    const again = await openCatalogFolder(dir, { clock, log: (l) => lines.push(l) });
    await again.transition(jobIdOf('b'), 'running', 'succeeded');
    again.close();
    expect(lines).toHaveLength(1);
    const third = await openCatalogFolder(dir, { clock });
    expect((await third.getJob(jobIdOf('b')))?.state).toBe('succeeded');
    third.close();
  });

  it('a crash after the database was in place but before the old file was set aside: finished at the next open', async () => {
    const dir = await makeTempDir();
    const text = JSON.stringify(legacy());
    await writeFile(join(dir, 'catalog.json'), text);
    (await openCatalogFolder(dir, { clock })).close();
    await rename(join(dir, 'catalog.json.imported'), join(dir, 'catalog.json'));
    const catalog = await openCatalogFolder(dir, { clock });
    expect(await catalog.listJobs('saves')).toHaveLength(2);
    catalog.close();
    expect(existsSync(join(dir, 'catalog.json'))).toBe(false);
    expect(existsSync(join(dir, 'catalog.json.imported'))).toBe(true);
  });

  it('a half-built import left by a crash is thrown away and the import done again', async () => {
    const dir = await makeTempDir();
    await writeFile(join(dir, 'catalog.json'), JSON.stringify(legacy()));
    await writeFile(join(dir, 'catalog.db.importing'), 'half of a database');
    const catalog = await openCatalogFolder(dir, { clock });
    expect(await catalog.listJobs('saves')).toHaveLength(2);
    catalog.close();
    expect(existsSync(join(dir, 'catalog.db.importing'))).toBe(false);
  });

  it('refuses a catalog.json beside a database it was not imported into, naming both and what to do', async () => {
    const dir = await makeTempDir();
    (await EmbeddedCatalog.open(join(dir, 'catalog.db'))).close();
    await writeFile(join(dir, 'catalog.json'), JSON.stringify(legacy()));
    const opening = openCatalogFolder(dir, { clock });
    await expect(opening).rejects.toBeInstanceOf(CatalogError);
    await expect(opening).rejects.toThrow(
      /holds both catalog\.db and an earlier catalog\.json that was not imported/,
    );
    await expect(opening).rejects.toThrow(/move .*catalog\.json away to keep the database/);
    expect(existsSync(join(dir, 'catalog.json'))).toBe(true);
  });

  it.each([
    ['not JSON', '{"version":1,"jobs":{', /catalog\.json is not valid JSON/],
    ['another version', '{"version":2}', /catalog\.json has version 2; zapas reads 1/],
    [
      'a job without its state',
      JSON.stringify({ version: 1, jobs: { x: { id: 'x', source: 's', createdAt: NOW } } }),
      /cannot be imported: jobs\.x\.state/,
    ],
    [
      'a field this zapas does not know',
      JSON.stringify({ version: 1, queue: [] }),
      /cannot be imported: \(the file\): Unrecognized key/,
    ],
    [
      'a slot key without its schedule',
      JSON.stringify({ version: 1, slots: { saves: 'x' } }),
      /cannot be imported: slots\.saves/,
    ],
  ])(
    'a damaged file (%s) is named and left as it is, and no database is made',
    async (_what, text, message) => {
      const dir = await makeTempDir();
      await writeFile(join(dir, 'catalog.json'), text);
      await expect(openCatalogFolder(dir, { clock })).rejects.toThrow(message);
      expect(await readFile(join(dir, 'catalog.json'), 'utf8')).toBe(text);
      expect(existsSync(join(dir, 'catalog.db'))).toBe(false);
    },
  );
});

describe('the state folder', () => {
  it('is made 0700, and tightened when an earlier zapas left it open to others', async () => {
    const root = await makeTempDir();
    const fresh = join(root, 'new', '.zapas-state');
    (await openCatalogFolder(fresh, { clock })).close();
    expect((await stat(fresh)).mode & 0o777).toBe(0o700);

    // What the JSON catalog's zapas made: a folder with the umask's mode, its file 0600.
    const earlier = join(root, 'earlier', '.zapas-state');
    await mkdir(earlier, { recursive: true });
    await chmod(earlier, 0o755);
    await writeFile(join(earlier, 'catalog.json'), JSON.stringify(legacy()), { mode: 0o600 });
    (await openCatalogFolder(earlier, { clock })).close();
    expect((await stat(earlier)).mode & 0o777).toBe(0o700);
  });
});
