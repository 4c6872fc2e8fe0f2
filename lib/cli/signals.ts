import { releaseHeldLocks } from '../repo/lock';
import { EXIT } from './errors';

/** The longest an interrupted command waits for its locks to go before it exits anyway. */
export const SIGNAL_RELEASE_TIMEOUT_MS = 10_000;

const SIGNAL_EXITS = { SIGINT: EXIT.interrupted, SIGTERM: EXIT.terminated } as const;

let claimed = false;
let claimedSignalSeen = false;

/**
 * For a verb that handles SIGINT/SIGTERM itself by stopping gracefully (serve: running jobs finish, exit
 * 0): while claimed, exitOnSignals lets the first signal through to the verb's own listener. Returns the
 * release, called when the verb no longer listens.
 */
export function claimStopSignals(): () => void {
  claimed = true;
  claimedSignalSeen = false;
  return () => {
    claimed = false;
  };
}

/**
 * On SIGINT or SIGTERM: release the repository locks this process holds, then exit 130 or 143 (128 plus
 * the signal, as shells report it). Without this the default action ends the process on the spot and
 * leaves its lock for `zapas unlock`. A second signal exits at once. Objects half written stay
 * unreferenced, as after a crash; a prune collects them. Not for wal-push and wal-fetch: they hold no
 * lock, and PostgreSQL tells a command killed by its SIGTERM (a shutdown) from one that exits above 125
 * (for restore_command: stop recovery), so they keep the default action.
 */
export function exitOnSignals(stderr: { write(text: string): unknown }): void {
  let stopping = false;
  for (const [signal, code] of Object.entries(SIGNAL_EXITS)) {
    process.on(signal, () => {
      // A verb that stops gracefully on its own (serve) takes the first signal; a second one still ends
      // the process here, its locks released.
      if (claimed && !claimedSignalSeen) {
        claimedSignalSeen = true;
        return;
      }
      if (stopping) process.exit(code);
      stopping = true;
      stderr.write(`zapas: ${signal}: releasing locks and stopping\n`);
      setTimeout(() => process.exit(code), SIGNAL_RELEASE_TIMEOUT_MS).unref();
      void releaseHeldLocks().finally(() => process.exit(code));
    });
  }
}
