import { availableParallelism } from 'node:os';
import { KdfSettingError, newSlotLogN, PasswordKeySlot } from '../keys/password';
import { encodeKeyring } from '../repo/keyring';
import type { OnDamagedSlot } from '../repo/keyslots';
import { Repository } from '../repo/repository';
import { WorkerPool } from '../repo/worker-pool';
import { openStorage } from '../storage/open';
import type { Storage } from '../storage/storage';
import type { CliAudit } from './cli-audit';
import { UsageError } from './errors';
import type { Io } from './io';
import { keyCacheDir, openWithKeyCache } from './key-cache';
import { readPassword } from './password';

/** Options every verb accepts. */
export interface GlobalOptions {
  repo?: string;
  passwordFile?: string;
  s3Endpoint?: string;
  quiet?: boolean;
  progress?: boolean;
}

/** What a verb gets: the outside world and the global options. */
export interface VerbContext {
  io: Io;
  globals: GlobalOptions;
  /** Set while a verb that declares an audit action runs: the repository it opens records it. */
  audit?: CliAudit;
}

/** The repository URL from --repo or ZAPAS_REPOSITORY. */
export function repoUrl(ctx: VerbContext, option = ctx.globals.repo, envVar = 'ZAPAS_REPOSITORY'): string {
  const url = option ?? ctx.io.env[envVar];
  if (!url) throw new UsageError(`no repository given: pass --repo URL or set ${envVar}`);
  return url;
}

/** Opens the Storage of a repository URL. */
export function storageFor(ctx: VerbContext, url: string): Storage {
  return openStorage(url, { s3Endpoint: ctx.globals.s3Endpoint, env: ctx.io.env });
}

/**
 * scrypt cost for new key slots: ZAPAS_KDF_LOG_N (see newSlotLogN: the test suite lowers it below the
 * floor, with ZAPAS_TEST_ALLOW_WEAK_KDF=1, so that each CLI call does not spend half a second on it).
 */
export function kdfLogN(ctx: VerbContext): number {
  try {
    return newSlotLogN(ctx.io.env);
  } catch (err) {
    if (err instanceof KdfSettingError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** The password of the repository, from --password-file, ZAPAS_PASSWORD_FILE, ZAPAS_PASSWORD or a prompt. */
export function repoPassword(ctx: VerbContext, confirm = false): Promise<string> {
  return readPassword(ctx.io, {
    envVar: 'ZAPAS_PASSWORD',
    fileEnvVar: 'ZAPAS_PASSWORD_FILE',
    file: ctx.globals.passwordFile,
    option: '--password-file',
    prompt: 'repository password: ',
    confirm,
  });
}

/**
 * Opens the repository named by the global options. With `keyCache` (the verbs PostgreSQL runs per WAL
 * segment), the password's slot key comes from the key cache when it can (see key-cache.ts).
 */
export async function openRepo(ctx: VerbContext, opts: { keyCache?: boolean } = {}): Promise<Repository> {
  const storage = storageFor(ctx, repoUrl(ctx));
  const password = await repoPassword(ctx);
  const codec = new PasswordKeySlot(password, kdfLogN(ctx), ctx.io.passwordKdf);
  const dir = opts.keyCache ? keyCacheDir(ctx.io.env) : undefined;
  const onDamagedSlot = damagedSlotWarning(ctx);
  const repo = await (dir
    ? openWithKeyCache(ctx.io, storage, password, codec, dir, onDamagedSlot)
    : Repository.open(storage, codec, { onDamagedSlot }));
  await ctx.audit?.opened(repo);
  return repo;
}

/** Warns of a damaged key slot skipped while the others are tried (`zapas key remove` takes it away). */
export function damagedSlotWarning(ctx: VerbContext): OnDamagedSlot {
  return (d) =>
    ctx.io.stderr.write(
      `zapas: warning: ${d.object}: ${d.message} (skipped; \`zapas key remove\` removes it)\n`,
    );
}

/**
 * Worker threads for a verb's heavy work, one per core (ZAPAS_WORKERS overrides; 0 disables them), not yet
 * configured: the caller gives them the repository's keys with `configure` and closes the pool when done.
 */
export function workerPool(ctx: VerbContext): WorkerPool | undefined {
  const script = ctx.io.workerScript;
  const text = ctx.io.env.ZAPAS_WORKERS;
  const size = text === undefined ? availableParallelism() : Number(text);
  if (!Number.isInteger(size) || size < 0)
    throw new UsageError(`ZAPAS_WORKERS must be a whole number, not "${text}"`);
  if (!script || size === 0) return undefined;
  return new WorkerPool(script, size);
}

/**
 * Opens the repository and runs `fn` with it and a worker pool (if any), then stops the pool. The threads
 * start before the key is derived from the password, so their start-up costs no time.
 */
export async function withRepoAndWorkers<T>(
  ctx: VerbContext,
  fn: (repo: Repository, pool: WorkerPool | undefined) => Promise<T>,
): Promise<T> {
  const pool = workerPool(ctx);
  try {
    pool?.warmUp();
    const repo = await openRepo(ctx);
    pool?.configure({ keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker });
    return await fn(repo, pool);
  } finally {
    await pool?.close();
  }
}

/** True when progress should be drawn: a terminal on stderr, or --progress; never with --quiet. */
export function showProgress(ctx: VerbContext): boolean {
  if (ctx.globals.quiet) return false;
  return Boolean(ctx.globals.progress || ctx.io.stderr.isTTY);
}
