import type { Command } from 'commander';
import { PasswordKeySlot } from '../../keys/password';
import type { Keyring } from '../../repo/crypto';
import { RepositoryNotFoundError } from '../../repo/errors';
import { addKeySlot, listKeySlots, removeKeySlot, unlockKeyring } from '../../repo/keyslots';
import { CONFIG_NAME } from '../../repo/repository';
import type { Storage } from '../../storage/storage';
import { damagedSlotWarning, kdfLogN, repoPassword, repoUrl, storageFor, type VerbContext } from '../context';
import { table } from '../format';
import { printJson } from '../io';
import { readPassword } from '../password';
import type { Verb } from '../verb';

const EXITS = [0, 1, 2, 10, 12] as const;

async function unlock(ctx: VerbContext) {
  const url = repoUrl(ctx);
  const storage = storageFor(ctx, url);
  // The config's presence proves a repository is there (exit 10) before key slots are tried (exit 12).
  if (!(await storage.head(CONFIG_NAME)))
    throw new RepositoryNotFoundError(`no repository at ${storage.location} (no config object)`);
  const password = await repoPassword(ctx);
  const codec = new PasswordKeySlot(password, kdfLogN(ctx));
  const unlocked = await unlockKeyring(storage, codec, undefined, damagedSlotWarning(ctx));
  await ctx.audit?.opened({ storage, keyring: unlocked.keyring });
  return { storage, ...unlocked };
}

function newPassword(ctx: VerbContext, file: unknown): Promise<string> {
  return readPassword(ctx.io, {
    envVar: 'ZAPAS_NEW_PASSWORD',
    fileEnvVar: 'ZAPAS_NEW_PASSWORD_FILE',
    file: file as string | undefined,
    option: '--new-password-file',
    prompt: 'new password: ',
    confirm: true,
  });
}

/** Asks for a new password and wraps the master key in a new slot with it. */
async function addPasswordSlot(
  ctx: VerbContext,
  storage: Storage,
  keyring: Keyring,
  file: unknown,
): Promise<string> {
  return addKeySlot(storage, keyring, new PasswordKeySlot(await newPassword(ctx, file), kdfLogN(ctx)));
}

function newPasswordOption(cmd: Command): Command {
  return cmd.option(
    '--new-password-file <file>',
    'read the new password from a file (env ZAPAS_NEW_PASSWORD_FILE, ZAPAS_NEW_PASSWORD)',
  );
}

const add: Verb = {
  name: 'add',
  summary: 'add a key slot with a new password',
  configure: newPasswordOption,
  exits: EXITS,
  audit: { action: 'manage-keys', target: () => ({ change: 'add slot' }) },
  async run(_a, opts, ctx) {
    const { storage, keyring } = await unlock(ctx);
    const id = await addPasswordSlot(ctx, storage, keyring, opts.newPasswordFile);
    if (!ctx.globals.quiet) ctx.io.stdout.write(`added key slot ${id.slice(0, 8)}\n`);
    return 0;
  },
};

const list: Verb = {
  name: 'list',
  summary: 'list key slots',
  configure: (cmd) => cmd.option('--json', 'one JSON object per slot'),
  exits: EXITS,
  async run(_a, opts, ctx) {
    const { storage, slotId } = await unlock(ctx);
    const slots = await listKeySlots(storage); // the damaged ones were warned of by unlock
    if (opts.json) for (const s of slots) printJson(ctx.io, { ...s, current: s.id === slotId });
    else {
      const rows = [[' ', 'ID', 'Kind', 'User', 'Host', 'Created']];
      for (const s of slots)
        rows.push([s.id === slotId ? '*' : ' ', s.id.slice(0, 8), s.kind, s.username, s.hostname, s.created]);
      ctx.io.stdout.write(`${table(rows)}\n`);
    }
    return 0;
  },
};

const remove: Verb = {
  name: 'remove',
  summary: 'remove a key slot (not the one in use, not the last one)',
  args: ['<id>'],
  exits: EXITS,
  audit: { action: 'manage-keys', target: ([id]) => ({ change: 'remove slot', slot: id }) },
  async run([id], _opts, ctx) {
    const { storage, slotId } = await unlock(ctx);
    if (slotId.startsWith(id!))
      throw new Error('refusing to remove the key slot in use; use another password to remove it');
    await removeKeySlot(storage, id!);
    if (!ctx.globals.quiet) ctx.io.stdout.write(`removed key slot ${id}\n`);
    return 0;
  },
};

const passwd: Verb = {
  name: 'passwd',
  summary: 'change the password: add a slot with the new one, then remove the current slot',
  configure: newPasswordOption,
  exits: EXITS,
  audit: { action: 'manage-keys', target: () => ({ change: 'replace slot (password change)' }) },
  async run(_a, opts, ctx) {
    const { storage, keyring, slotId } = await unlock(ctx);
    const id = await addPasswordSlot(ctx, storage, keyring, opts.newPasswordFile);
    await removeKeySlot(storage, slotId);
    if (!ctx.globals.quiet)
      ctx.io.stdout.write(`password changed: key slot ${slotId.slice(0, 8)} replaced by ${id.slice(0, 8)}\n`);
    return 0;
  },
};

export const key: Verb = {
  name: 'key',
  summary: 'manage key slots (passwords that open the repository)',
  exits: EXITS,
  subverbs: [add, list, remove, passwd],
  run: async () => 2,
};
