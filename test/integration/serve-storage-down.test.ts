import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PasswordKeySlot, SCRYPT_MIN_LOG_N } from '../../lib/keys/password';
import { checkRepository } from '../../lib/repo/check';
import { Repository } from '../../lib/repo/repository';
import { S3Storage } from '../../lib/storage/s3';
import { WEAK_KDF_ENV } from '../support/repo';
import { withS3Server } from '../support/s3-server';
import { startServe, until } from '../support/serve';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy';
import { makeTempDir } from '../support/temp';

const s3 = withS3Server();
const PASSWORD = 'storage down password';

interface JobView {
  id: string;
  state: string;
  error?: string;
  snapshotId?: string;
}

/** `zapas serve` over an S3 repository whose endpoint goes down and comes back. */
describe('zapas serve: storage endpoint down', () => {
  let proxy: TcpProxy;
  afterAll(async () => {
    await proxy?.close();
  });

  it('jobs fail with a clear status, the circuit opens, and backups work again once it is back', async () => {
    proxy = await startTcpProxy(s3().endpoint);
    const dir = await makeTempDir('zapas-serve-down-');
    await mkdir(join(dir, 'data'), { recursive: true });
    await writeFile(join(dir, 'data', 'save.sav'), 'level 12');
    await writeFile(join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
    const storage = () =>
      new S3Storage({
        bucket: s3().bucket,
        prefix: 'repo',
        endpoint: s3().endpoint,
        region: s3().region,
        credentials: s3().credentials,
      });
    await Repository.init(storage(), new PasswordKeySlot(PASSWORD, SCRYPT_MIN_LOG_N));
    const config = join(dir, 'zapas.yaml');
    await writeFile(
      config,
      `version: 1
repositories:
  main: { url: "s3://${s3().bucket}/repo", endpoint: "${proxy.endpoint}", residency: RU, passwordFile: ./password }
sources:
  saves:
    type: files
    paths: [./data]
    repository: main
    dataClass: game-content
    events: [backup-now]
`,
    );
    const serve = await startServe(config, {
      cwd: dir,
      env: {
        AWS_ACCESS_KEY_ID: s3().credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3().credentials.secretAccessKey,
        AWS_REGION: s3().region,
        ...WEAK_KDF_ENV,
        ZAPAS_BREAKER_HALF_OPEN_MS: '2000',
      },
    });
    const backup = async (key: string): Promise<JobView> => {
      const res = await fetch(`${serve.url}/v1/sources/saves/backups`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: '{}',
      });
      const { job } = (await res.json()) as { job: JobView };
      return until(
        async () => {
          const j = (await (await fetch(`${serve.url}/v1/jobs/${job.id}`)).json()) as { job: JobView };
          return ['succeeded', 'failed'].includes(j.job.state) ? j.job : undefined;
        },
        `job ${key} (log: ${serve.log()})`,
        60_000,
      );
    };
    try {
      expect(await backup('before')).toMatchObject({ state: 'succeeded' });
      await proxy.down();
      // Each failure names the storage that is unreachable; after three the circuit opens and the
      // next job fails at once, saying so, without trying.
      const failures: JobView[] = [];
      for (let i = 0; i < 4; i++) failures.push(await backup(`down-${i}`));
      for (const f of failures) expect(f.state).toBe('failed');
      expect(failures[0]!.error).toMatch(/cannot reach endpoint http:\/\/127\.0\.0\.1:\d+|ECONNREFUSED/);
      expect(failures[3]!.error).toMatch(
        /the storage of repository "main" is unavailable: 3 calls in a row failed .*; the next try is let through after 2 s/,
      );
      await proxy.up();
      await new Promise((r) => setTimeout(r, 2500));
      const after = await backup('after');
      expect(after).toMatchObject({ state: 'succeeded', snapshotId: expect.any(String) });
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    const repo = await Repository.open(storage(), new PasswordKeySlot(PASSWORD, SCRYPT_MIN_LOG_N));
    expect(await repo.listSnapshots()).toHaveLength(2);
    expect((await checkRepository(repo, { readDataPercent: 100 })).errors).toEqual([]);
  }, 180_000);
});
