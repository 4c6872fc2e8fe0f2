import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { jsonLines, lastJson, runCli, spawnCli } from '../support/cli';
import { withS3Server } from '../support/s3-server';
import { useTempDir } from '../support/temp';
import { describeTree } from '../support/tree';

/** The same verbs against a real S3-compatible server (s3rver) on loopback. */
describe('zapas CLI on S3 (s3rver)', () => {
  const server = withS3Server();
  const tmp = useTempDir();
  let src = '';
  const env = () => ({
    AWS_ACCESS_KEY_ID: server().credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server().credentials.secretAccessKey,
    AWS_REGION: server().region,
    ZAPAS_S3_ENDPOINT: server().endpoint,
  });
  const url = () => `s3://${server().bucket}/backups/game-saves`;
  const cli = (...args: string[]) => runCli(['--repo', url(), ...args], env());

  beforeAll(async () => {
    src = join(tmp(), 'src');
    await mkdir(join(src, 'saves'), { recursive: true });
    for (let i = 0; i < 30; i++)
      await writeFile(
        join(src, 'saves', `p${i}.json`),
        JSON.stringify({ id: i, inv: 'sword '.repeat(i * 50) }),
      );
    await writeFile(join(src, 'asset.pak'), randomBytes(20 * 1024 * 1024)); // a pack over the multipart threshold
  });

  it('init, backup, incremental backup, snapshots', async () => {
    expect((await cli('init')).code).toBe(0);
    const first = await cli('backup', src, '--json');
    expect(first.code).toBe(0);
    expect(lastJson(first.stdout)).toMatchObject({ filesNew: 31 });
    await writeFile(join(src, 'saves', 'p0.json'), '{"id":0,"level":99}');
    const second = await cli('backup', src, '--json');
    expect(lastJson(second.stdout)).toMatchObject({ filesNew: 0, filesChanged: 1, filesUnmodified: 30 });
    expect(jsonLines((await cli('snapshots', '--json')).stdout)).toHaveLength(2);
  });

  it('restore --verify rebuilds the tree; check --read-data passes', async () => {
    const target = join(tmp(), 'restored');
    const r = await cli('restore', 'latest', '--target', target, '--verify');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(await describeTree(join(target, src))).toEqual(await describeTree(src));
    expect((await cli('check', '--read-data')).code).toBe(0);
  });

  it('forget --prune frees data on S3 and the repository still checks', async () => {
    const r = await cli('forget', '--keep-last', '1', '--prune');
    expect(r.code).toBe(0);
    expect((await cli('check', '--read-data')).code).toBe(0);
  });

  it('copy from S3 to a local repository', async () => {
    const local = join(tmp(), 'local');
    expect((await runCli(['--repo', local, 'init'])).code).toBe(0);
    const r = await runCli(['--repo', url(), 'copy', '--to', local], {
      ...env(),
      ZAPAS_TO_PASSWORD: 'correct horse battery staple',
    });
    expect(r.code).toBe(0);
    expect((await runCli(['--repo', local, 'check', '--read-data'])).code).toBe(0);
  });

  it('the real command works against S3 too (environment only, no secrets in argv)', async () => {
    const r = await spawnCli(['--repo', url(), 'snapshots', '--json'], env());
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toHaveLength(1);
  });

  it('an S3 prefix with no repository exits 10', async () => {
    const r = await runCli(['--repo', `s3://${server().bucket}/nothing`, 'snapshots'], env());
    expect(r.code).toBe(10);
  });

  it('an unreachable endpoint fails quickly with a message naming it, and no credential', async () => {
    const port = await closedPort();
    const started = Date.now();
    const r = await runCli(['--repo', url(), 'snapshots'], {
      ...env(),
      ZAPAS_S3_ENDPOINT: `http://127.0.0.1:${port}`,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
    expect(r.stderr).not.toContain(server().credentials.secretAccessKey);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
