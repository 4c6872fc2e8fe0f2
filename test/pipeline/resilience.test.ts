import { connect, createServer, type Server, type Socket } from 'node:net';
import { DependencyGuard, DependencyUnavailableError } from '../../lib/pipeline/resilience';
import { Repository } from '../../lib/repo/repository';
import { openStorage } from '../../lib/storage/open';
import { testKey } from '../support/repo';
import { withS3Server } from '../support/s3-server';

/** A TCP proxy in front of a real server that can be taken down (connections refused) and brought back. */
async function switchableProxy(target: number) {
  const sockets = new Set<Socket>();
  let connections = 0;
  let server: Server | undefined;
  let port = 0;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        connections++;
        const upstream = connect(target, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server!.close(() => resolve());
    });
  await up();
  return { port: () => port, up, down, connections: () => connections };
}

describe('dependency guard on a real S3 endpoint', () => {
  const s3 = withS3Server();

  it('storage down: retries, then the circuit opens (fast failures, nothing sent), and closes when it is back', async () => {
    const server = s3();
    const proxy = await switchableProxy(Number(new URL(server.endpoint).port));
    const env = {
      AWS_ACCESS_KEY_ID: server.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.credentials.secretAccessKey,
      AWS_REGION: server.region,
    };
    const url = `s3://${server.bucket}/guarded`;
    const storage = () => openStorage(url, { s3Endpoint: `http://127.0.0.1:${proxy.port()}`, env });
    await Repository.init(storage(), testKey());
    const guard = new DependencyGuard('the storage of repository "main"', {
      attempts: 2,
      initialDelayMs: 10,
      breakAfter: 2,
      halfOpenAfterMs: 400,
    });
    const open = () => guard.run(() => Repository.open(storage(), testKey()));
    await expect(open()).resolves.toBeInstanceOf(Repository);

    await proxy.down();
    for (let i = 0; i < 2; i++) await expect(open()).rejects.toThrow(/unreachable|ECONNREFUSED/i);
    const before = proxy.connections();
    const t0 = Date.now();
    const fast = open();
    await expect(fast).rejects.toBeInstanceOf(DependencyUnavailableError);
    await expect(fast).rejects.toThrow(
      /storage of repository "main" is unavailable: 2 calls in a row failed .*next try .* after 0 s/,
    );
    expect(Date.now() - t0).toBeLessThan(100);
    expect(proxy.connections()).toBe(before);

    await proxy.up();
    await new Promise((r) => setTimeout(r, 450));
    await expect(open()).resolves.toBeInstanceOf(Repository); // the trial call closes the circuit
    await expect(open()).resolves.toBeInstanceOf(Repository);
    await proxy.down();
  }, 60_000);

  it('a failure that is not the dependency being down (a wrong password) passes straight through, untried again', async () => {
    const guard = new DependencyGuard('x', { breakAfter: 1 });
    let calls = 0;
    const wrongKey = () =>
      guard.run(async () => {
        calls++;
        throw new Error('wrong password or key');
      });
    await expect(wrongKey()).rejects.toThrow('wrong password');
    await expect(wrongKey()).rejects.toThrow('wrong password'); // not DependencyUnavailableError
    expect(calls).toBe(2);
  });
});
