import type { PasswordKdf } from '../keys/password';
import type { WorkerScript } from '../repo/worker-pool';

/** What a verb may touch of the outside world; tests pass their own. */
export interface Io {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown; isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  /** The script worker threads run (the bundled command itself); absent: everything runs on one thread. */
  readonly workerScript?: WorkerScript;
  /** The password KDF (tests pass one that counts its calls); scrypt when absent. */
  readonly passwordKdf?: PasswordKdf;
}

/** The process's own streams and environment. */
export function processIo(workerScript?: WorkerScript): Io {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    workerScript,
  };
}

/** Writes one JSON value as a line (the `--json` output contract). */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`);
}
