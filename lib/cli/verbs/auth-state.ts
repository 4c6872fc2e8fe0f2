/**
 * What the `auth` verbs share: the configuration's state folder (the embedded catalog `zapas serve` uses)
 * and its key repository, whose password authorises them; the subject they act on.
 */
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Catalog } from '../../catalog/catalog';
import { openCatalogFolder } from '../../catalog/catalog-folder';
import { loadConfigFile } from '../../pipeline/config/load';
import { RepositoryOpener } from '../../pipeline/repositories';
import { parseDuration } from '../../policy/duration';
import type { Keyring } from '../../repo/crypto';
import { keyRepositoryOf } from '../../security/totp-key-repository';
import type { VerbContext } from '../context';
import { repoPassword } from '../context';
import { UsageError } from '../errors';
import type { VerbOptions } from '../verb';

export const AUTH_EXITS = [0, 1, 2, 10, 12] as const;
/** The state folder's name beside the configuration when --state is not given (as `zapas serve`). */
const DEFAULT_STATE_FOLDER = '.zapas-state';
/** Longest subject taken (a token's `sub` claim is rarely longer than a UUID or an e-mail address). */
const MAX_SUBJECT_LENGTH = 256;

/** The options every `auth` verb takes: the configuration and the state folder. */
export function stateOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--config <file>', 'the configuration (zapas.yaml or JSON)')
    .option('--state <dir>', 'folder of the embedded catalog (default: .zapas-state beside the config)');
}

/** The subject of the command line, refused when empty, too long, or holding control characters. */
export function subjectOf(opts: VerbOptions): string {
  const subject = String(opts.subject);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (subject === '' || subject.length > MAX_SUBJECT_LENGTH || /[\u0000-\u001f\u007f-\u009f]/.test(subject))
    throw new UsageError(
      `--subject takes a name of 1 to ${MAX_SUBJECT_LENGTH} characters without control characters`,
    );
  return subject;
}

/**
 * Opens the configuration's catalog (the state folder's) and key repository — whose password is what
 * authorises these commands — recording the verb's intent in the key repository's audit trail, and runs
 * `work` over them.
 */
export async function withServiceState<T>(
  opts: VerbOptions,
  ctx: VerbContext,
  work: (state: { catalog: Catalog; keyring: Keyring }) => Promise<T>,
): Promise<T> {
  const file = opts.config as string;
  const config = await loadConfigFile(file);
  const baseDir = dirname(resolve(file));
  const opener = new RepositoryOpener(config, {
    baseDir,
    env: ctx.io.env,
    password: () => repoPassword(ctx),
  });
  const repo = await opener.get(keyRepositoryOf(config));
  // Recorded in the key repository's audit trail before anything changes.
  await ctx.audit?.opened(repo);
  const catalog = await openCatalogFolder(
    (opts.state as string | undefined) ?? join(baseDir, DEFAULT_STATE_FOLDER),
    {
      keepFinishedJobs: parseDuration(config.catalog.keepFinishedJobs),
    },
  );
  try {
    return await work({ catalog, keyring: repo.keyring });
  } finally {
    catalog.close();
  }
}
