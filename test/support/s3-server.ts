import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/** A running s3rver child process with one empty bucket. */
export interface S3Server {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  readonly bucket: string;
  /** Credentials s3rver accepts; pass them to the client you build, never through process.env. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly region: string;
  /** Kills the server and removes its data folder. */
  stop(): Promise<void>;
}

/** s3rver's fixed access key and secret. */
const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
const TEST_BUCKET = 'zapas-test';
/** s3rver starts in well under a second; this only bounds a broken start. */
const START_TIMEOUT_MS = 15_000;
/** Time a SIGTERMed server gets before SIGKILL. */
const STOP_GRACE_MS = 3_000;

/**
 * Runs in the child. It binds port 0 (the kernel picks a free one, so parallel jest workers never
 * collide) and reports the port as one JSON line. It removes its data folder and exits when its stdin
 * closes, which happens when the parent dies in any way, even SIGKILL, so no server outlives the test
 * run.
 */
const CHILD_SCRIPT = `
const S3rver = require(process.env.ZAPAS_S3RVER_MODULE);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory: process.env.ZAPAS_S3RVER_DIR,
  configureBuckets: [{ name: process.env.ZAPAS_S3RVER_BUCKET }],
});
process.stdin.on('end', () => {
  require('node:fs').rmSync(process.env.ZAPAS_S3RVER_DIR, { recursive: true, force: true });
  process.exit(0);
});
process.stdin.resume();
server.run().then(
  ({ port }) => process.stdout.write(JSON.stringify({ port }) + '\\n'),
  (error) => { console.error(error); process.exit(1); },
);
`;

/**
 * Starts s3rver 3.7.1 as a child process on Node's own binary (process.execPath), in a fresh temp
 * folder, with a bucket created, and resolves once it answers HTTP.
 */
export async function startS3Server(): Promise<S3Server> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'zapas-s3rver-'));
  const child = spawn(process.execPath, ['-e', CHILD_SCRIPT], {
    env: {
      ...process.env,
      // s3rver encrypts continuation tokens with a cipher OpenSSL 3 only offers from its legacy
      // provider; without it every paginated listing fails (CLOUDS.md).
      NODE_OPTIONS: '--openssl-legacy-provider',
      ZAPAS_S3RVER_MODULE: require.resolve('s3rver'),
      ZAPAS_S3RVER_DIR: directory,
      ZAPAS_S3RVER_BUCKET: TEST_BUCKET,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // If jest exits without afterAll (a crash, --forceExit), still take the server down.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off('exit', killOnExit);
      await terminate(child);
      await rm(directory, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    const port = await readPort(child);
    const endpoint = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(endpoint);
    return { endpoint, bucket: TEST_BUCKET, credentials: S3RVER_CREDENTIALS, region: 'us-east-1', stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Registers beforeAll / afterAll that start and stop one s3rver for the enclosing describe block
 * (or file), and returns a getter for it, usable inside tests and hooks.
 */
export function withS3Server(): () => S3Server {
  let server: S3Server | undefined;
  beforeAll(async () => {
    server = await startS3Server();
  });
  afterAll(async () => {
    await server?.stop();
    server = undefined;
  });
  return () => {
    if (server === undefined)
      throw new Error('withS3Server(): the server is only available inside tests and hooks');
    return server;
  };
}

/** Waits for the child's `{"port": n}` line; fails with its stderr if it exits or takes too long. */
function readPort(child: ChildProcessWithoutNullStreams): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      finish(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${stderr}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (!stdout.includes('\n') || line === undefined) return;
      let port: unknown;
      try {
        port = (JSON.parse(line) as { port?: unknown }).port;
      } catch (error) {
        finish(new Error(`s3rver wrote an unexpected line: ${line}`, { cause: error }));
        return;
      }
      if (typeof port === 'number') finish(undefined, port);
      else finish(new Error(`s3rver reported no port: ${line}`));
    };
    const onStderr = (chunk: Buffer): void => {
      stderr += chunk.toString();
    };
    const onExit = (code: number | null, signal: string | null): void => {
      finish(new Error(`s3rver exited during start (code ${code}, signal ${signal}): ${stderr}`));
    };
    const finish = (error: Error | undefined, port?: number): void => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      if (port !== undefined) resolve(port);
      else reject(error);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onStderr);
    child.on('exit', onExit);
  });
}

/** Any HTTP answer (s3rver says 403 to an unsigned request) proves the server is serving. */
async function waitUntilAnswering(endpoint: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      await new Promise<void>((resolve, reject) => {
        const request = http.get(endpoint, (response) => {
          response.resume();
          response.on('end', resolve);
        });
        request.on('error', reject);
      });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`s3rver at ${endpoint} does not answer`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
async function terminate(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
