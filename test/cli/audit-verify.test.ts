import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditLog, readCatalogHead } from '../../lib/audit/audit-log';
import { auditObjectName, openEvent, sealEvent } from '../../lib/audit/audit-object';
import { openCatalogFolder } from '../../lib/catalog/catalog-folder';
import { Repository } from '../../lib/repo/repository';
import { FsStorage } from '../../lib/storage/fs';
import { auditFile, entry, swapEvents } from '../audit/fixtures';
import { lastJson, runCli } from '../support/cli';
import { flipBit } from '../support/damage';
import { testKey } from '../support/repo';
import { useTempDir } from '../support/temp';

/** `zapas audit verify`: 0 when the trail is whole, 1 naming the first bad event. */
describe('zapas audit verify', () => {
  const tmp = useTempDir();
  let repo = '';
  let copies = 0;

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    const src = join(tmp(), 'src');
    await cp(__filename, join(src, 'file.ts'));
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
    expect((await runCli(['--repo', repo, 'backup', src, '--source', 's'])).code).toBe(0);
    for (let i = 0; i < 3; i++) expect((await runCli(['--repo', repo, 'ls', 'latest'])).code).toBe(0);
  });

  /** A copy of the repository (six events) to damage. */
  const copy = async () => {
    const dir = join(tmp(), `copy-${++copies}`);
    await cp(repo, dir, { recursive: true });
    return dir;
  };
  const verify = (dir: string, ...args: string[]) => runCli(['--repo', dir, 'audit', 'verify', ...args]);

  it('a whole trail: exit 0 and its head', async () => {
    const r = await verify(repo);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^audit trail whole: 6 event\(s\), head 6:[0-9a-f]{64}\n$/);
    expect(lastJson(await verify(repo, '--json').then((x) => x.stdout))).toMatchObject({
      ok: true,
      events: 6,
    });
  });

  it('one event deleted', async () => {
    const dir = await copy();
    await rm(auditFile(dir, 3));
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('audit trail broken at event 3 (audit/0000000000000003): missing');
  });

  it('one event altered (a byte flipped)', async () => {
    const dir = await copy();
    await flipBit(auditFile(dir, 4), -3);
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('audit trail broken at event 4 (audit/0000000000000004): altered');
  });

  it('two events swapped', async () => {
    const dir = await copy();
    await swapEvents(dir, 2, 5);
    const r = await verify(dir, '--json');
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({
      ok: false,
      events: 1,
      problem: { kind: 'out-of-order', seq: 2, object: 'audit/0000000000000002' },
    });
  });

  it('an event forged with another repository’s key', async () => {
    const dir = await copy();
    const other = join(tmp(), 'other');
    expect((await runCli(['--repo', other, 'init'])).code).toBe(0);
    const mine = await Repository.open(new FsStorage(dir), testKey());
    const theirs = await Repository.open(new FsStorage(other), testKey());
    const real = openEvent(mine.keyring, await readFile(auditFile(dir, 2)), 2, auditObjectName(2));
    await writeFile(auditFile(dir, 2), sealEvent(theirs.keyring, { ...real, outcome: 'denied' }));
    const r = await verify(dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/broken at event 2 \(audit\/0000000000000002\): altered: .*unknown data key/);
  });

  it('the tail cut while the catalog’s head points further (--state), or a head kept elsewhere (--head)', async () => {
    const dir = await copy();
    const state = join(tmp(), 'state');
    const opened = await Repository.open(new FsStorage(dir), testKey());
    const catalog = await openCatalogFolder(state);
    const log = new AuditLog(opened, { catalog });
    await log.append(entry(7));
    await log.append(entry(8));
    const head = (await readCatalogHead(catalog, opened.config.id))!;
    catalog.close();
    expect(head.seq).toBe(8);
    expect((await verify(dir, '--state', state)).code).toBe(0);
    await rm(auditFile(dir, 8));
    await rm(auditFile(dir, 7));
    expect((await verify(dir)).code).toBe(0); // alone, a cut tail is a shorter trail
    for (const args of [
      ['--state', state],
      ['--head', `${head.seq}:${head.hash}`],
    ]) {
      const r = await verify(dir, ...args);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('audit trail broken at event 7 (audit/0000000000000007): truncated');
    }
  });

  it('refuses a malformed --head, and --state with --head', async () => {
    expect((await verify(repo, '--head', '3:abc')).code).toBe(2);
    expect((await verify(repo, '--head', `0:${'0'.repeat(64)}`)).code).toBe(2);
    expect((await verify(repo, '--state', tmp(), '--head', `1:${'0'.repeat(64)}`)).code).toBe(2);
  });
});
