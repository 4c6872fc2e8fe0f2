import { type ChildProcess, spawn } from 'node:child_process';
import { cliEnv, ZAPAS_BIN } from './cli';

export interface RunningServe {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` of its API. */
  url: string;
  /** What it has written to stderr so far (its log). */
  log(): string;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/** Starts the real `zapas serve` on a free port and resolves once its API listens. */
export function startServe(
  config: string,
  opts: { cwd: string; args?: string[]; env?: NodeJS.ProcessEnv },
): Promise<RunningServe> {
  const child = spawn(
    process.execPath,
    [ZAPAS_BIN, 'serve', '--config', config, '--port', '0', '--tick', '1', ...(opts.args ?? [])],
    {
      env: cliEnv({ ZAPAS_PASSWORD: undefined, ...opts.env }),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const stop = () => {
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  };
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /API on (http:\/\/\S+)\/v1/.exec(out);
      if (m) resolve({ child, url: m[1]!, log: () => err, stop });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
}

/** Polls `fn` until it gives a value. */
export async function until<T>(fn: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
