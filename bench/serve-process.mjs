// Starting `zapas serve` for a benchmark: the child, the URL it announces, and its stderr so far.
import { spawn } from 'node:child_process';

/** Spawns `node zapas serve ARGS…` and resolves once it prints its API's URL (rejects if it exits first). */
export async function startServe(zapas, args, env) {
  const child = spawn(process.execPath, [zapas, 'serve', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /API on (http:\/\/\S+)\/v1/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err };
}
