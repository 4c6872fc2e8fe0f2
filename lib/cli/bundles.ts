import { createRequire, isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { getAsset, getRawAsset, isSea } from 'node:sea';
import { Script } from 'node:vm';
import type { WorkerScript } from '../repo/worker-pool';
import { afterGlobalOptions } from './global-options';
import type { Io } from './io';

/** What each CLI bundle (dist/zapas-cli.cjs, dist/zapas-wal.cjs) exports: run one command line. */
export interface CliBundle {
  start(argv: readonly string[], io: Io): Promise<number>;
}

/**
 * The bundles: the whole CLI, and wal-push and wal-fetch alone (PostgreSQL runs them once per WAL
 * segment: a tenth of the code to parse, about 20 MB less memory). Their names are file names beside the
 * script and asset names inside the executable (scripts/build-executable.mjs).
 */
export const BUNDLES = { cli: 'zapas-cli.cjs', wal: 'zapas-wal.cjs', worker: 'zapas-worker.cjs' } as const;
/** The asset holding V8's code cache of a bundle, made at build time by the Node the executable carries. */
export const CODE_CACHE_SUFFIX = '.cache';

/** The pg verbs that PostgreSQL runs for each WAL segment (archive_command, restore_command). */
const WAL_VERB_NAMES: ReadonlySet<string> = new Set(['wal-push', 'wal-fetch']);

/** Which bundle a command line needs. */
export function bundleFor(argv: readonly string[]): keyof typeof BUNDLES {
  const words = afterGlobalOptions(argv);
  return words?.[0] === 'pg' && WAL_VERB_NAMES.has(words[1] ?? '') ? 'wal' : 'cli';
}

/**
 * Loads a bundle: the script requires the file beside it. The executable carries each bundle wrapped as a
 * CommonJS function, with V8's code cache made for it at build time (as Node does for the executable's
 * main script), and runs it with a `require` that loads Node's built-in modules only.
 */
export function loadBundle(name: string, scriptDir: string, io: Io): CliBundle {
  if (!isSea()) return createRequire(join(scriptDir, 'zapas.cjs'))(`./${name}`) as CliBundle;
  const script = new Script(getAsset(name, 'utf8'), {
    filename: name,
    cachedData: Buffer.from(getRawAsset(name + CODE_CACHE_SUFFIX)),
  });
  // Not an error: V8 compiles the bundle instead, which only costs start-up time.
  if (script.cachedDataRejected)
    io.stderr.write(`zapas: warning: the code cache of ${name} was rejected (a slower start)\n`);
  const module = { exports: {} as CliBundle };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run(module.exports, builtinOnly, module, process.execPath, dirname(process.execPath));
  return module.exports;
}

/** The worker bundle: the file beside the script, or the executable's asset, read when a pool starts. */
export function workerScriptFor(scriptDir: string): WorkerScript {
  if (!isSea()) return join(scriptDir, BUNDLES.worker);
  let code: string | undefined;
  return {
    get code() {
      code ??= getAsset(BUNDLES.worker, 'utf8');
      return code;
    },
  };
}

/** A `require` for the executable's bundles: built-in modules only, nothing from disk (no node_modules of the cwd). */
const builtinOnly = Object.assign(
  (id: string): unknown => {
    if (!isBuiltin(id)) throw new Error(`the zapas executable loads no module from disk (asked for "${id}")`);
    return builtins(id);
  },
  { resolve: (id: string) => id },
);
const builtins = createRequire(__filename);
