import { randomBytes } from 'node:crypto';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { PackId } from '../../lib/repo/ids';
import { groupOf } from '../../lib/repo/read-data-subset';
import { lastJson, runCli } from '../support/cli';
import { flipBit, objectName, objectsIn } from '../support/damage';
import { useTempDir } from '../support/temp';

/** `check --read-data-subset` in restic's three forms: n/t groups, a percentage, a size. */
describe('zapas check --read-data-subset', () => {
  const tmp = useTempDir();
  let repo = '';
  const cli = (...args: string[]) => runCli(['--repo', repo, ...args]);
  const checkJson = async (subset: string) => {
    const r = await cli('check', '--read-data-subset', subset, '--json');
    return { code: r.code, report: lastJson(r.stdout), stderr: r.stderr };
  };
  let packs: string[] = [];

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    expect((await cli('init')).code).toBe(0);
    // Each backup of new random data writes packs of its own.
    for (let i = 0; i < 6; i++) {
      const src = join(tmp(), `src-${i}`);
      await mkdir(src);
      await writeFile(join(src, 'data.bin'), randomBytes(200_000));
      expect((await cli('backup', src, '--source', `s${i}`)).code).toBe(0);
    }
    packs = await objectsIn(repo, 'data');
    expect(packs.length).toBeGreaterThanOrEqual(6);
  });

  it('n/t reads the n-th of t fixed groups; 1/t .. t/t together read every pack once', async () => {
    let read = 0;
    for (let n = 1; n <= 3; n++) {
      const { code, report } = await checkJson(`${n}/3`);
      expect(code).toBe(0);
      const want = packs.filter((p) => groupOf(basename(p) as PackId, 3) === n).length;
      expect(report.packsRead).toBe(want);
      read += report.packsRead as number;
    }
    expect(read).toBe(packs.length);
  });

  it('a size reads packs adding up to at most it; a size above the repository reads every pack', async () => {
    const all = await checkJson('1G');
    expect(all.report.packsRead).toBe(packs.length);
    const some = await checkJson('300K');
    expect(some.code).toBe(0);
    expect(some.report.packsRead as number).toBeGreaterThanOrEqual(1);
    expect(some.report.packsRead as number).toBeLessThan(packs.length);
    expect(some.report.bytesRead as number).toBeLessThanOrEqual(300 * 1024);
  });

  it('a percentage reads that share of the packs, rounded up', async () => {
    const { report } = await checkJson('50%');
    expect(report.packsRead).toBe(Math.ceil(packs.length / 2));
  });

  it('a damaged pack is found by the group it is in, and by no other', async () => {
    // The largest pack holds file data (trees are small): damage to it is found only by reading it back.
    const sizes = await Promise.all(packs.map(async (p) => (await stat(p)).size));
    const victim = packs[sizes.indexOf(Math.max(...sizes))]!;
    await flipBit(victim, 100);
    const its = groupOf(basename(victim) as PackId, 2);
    const found = await cli('check', '--read-data-subset', `${its}/2`);
    expect(found.code).toBe(1);
    expect(found.stderr).toContain(objectName(repo, victim));
    expect((await cli('check', '--read-data-subset', `${3 - its}/2`)).code).toBe(0);
  });

  it.each([
    ['0/3', /1 <= n <= t/],
    ['4/3', /1 <= n <= t/],
    ['10', /no unit: write 10% .* or 10M/],
    ['0%', /above 0/],
    ['many', /"many" is not n\/t/],
  ])('%s exits 2 and says why', async (subset, message) => {
    const r = await cli('check', '--read-data-subset', subset);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--read-data-subset/);
    expect(r.stderr).toMatch(message);
  });
});
