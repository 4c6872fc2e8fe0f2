/**
 * `zapas auth lockout show|set|release`: an operator's hand on lockouts during an incident
 * (docs/security.md, "Incident response") — see whether a subject or an address is locked out and until
 * when, keep it out longer, or let it in after a false alarm. On the catalog `zapas serve` uses; every
 * change is recorded in the key repository's audit trail.
 */
import type { Command } from 'commander';
import { parseDuration, subtractDuration } from '../../policy/duration';
import { addressLockKey, subjectLockKey } from '../../security/lockout';
import { CatalogLockoutStore } from '../../security/lockout-store';
import { UsageError } from '../errors';
import { printJson } from '../io';
import type { Verb, VerbOptions } from '../verb';
import { AUTH_EXITS, stateOptions, subjectOf, withServiceState } from './auth-state';

/** Longest address taken (an IPv6 address with a zone is far shorter). */
const MAX_ADDRESS_LENGTH = 64;

function whoOptions(cmd: Command): Command {
  return stateOptions(cmd)
    .option('--subject <name>', 'a principal: the subject (`sub`) of its tokens')
    .option('--address <ip>', 'a client address');
}

/** The lockout key and the words for it, from exactly one of --subject and --address. */
function whoOf(opts: VerbOptions): { key: string; who: string } {
  if ((opts.subject === undefined) === (opts.address === undefined))
    throw new UsageError('give exactly one of --subject and --address');
  if (opts.subject !== undefined) {
    const subject = subjectOf(opts);
    return { key: subjectLockKey(subject), who: `subject ${subject}` };
  }
  const address = String(opts.address);
  if (!/^[0-9A-Fa-f:.]{2,64}$/.test(address) || address.length > MAX_ADDRESS_LENGTH)
    throw new UsageError('--address takes an IPv4 or IPv6 address');
  return { key: addressLockKey(address), who: `address ${address}` };
}

const target = (_a: readonly string[], opts: VerbOptions) => ({
  subject: opts.subject,
  address: opts.address,
});

const show: Verb = {
  name: 'show',
  summary: 'whether a subject or an address is locked out, and until when',
  configure: (cmd) => whoOptions(cmd).option('--json', 'print one JSON object'),
  exits: AUTH_EXITS,
  async run(_a, opts, ctx) {
    const { key, who } = whoOf(opts);
    const until = await withServiceState(opts, ctx, ({ catalog }) =>
      new CatalogLockoutStore(catalog).lockedUntil(key),
    );
    const at = until === undefined ? undefined : new Date(until).toISOString();
    if (opts.json) printJson(ctx.io, { messageType: 'lockout', key, lockedUntil: at ?? null });
    else ctx.io.stdout.write(at ? `${who}: locked out until ${at}\n` : `${who}: not locked out\n`);
    return 0;
  },
};

const set: Verb = {
  name: 'set',
  summary: 'lock a subject or an address out for a while (a longer lockout in place is kept)',
  configure: (cmd) =>
    whoOptions(cmd)
      .requiredOption('--for <duration>', 'how long from now: 12h, 7d, 1m (a month)')
      .requiredOption('--reason <text>', 'why (kept with the lockout and in the audit trail)'),
  exits: AUTH_EXITS,
  audit: {
    action: 'lockout',
    target: (a, opts) => ({ ...target(a, opts), for: opts.for, reason: opts.reason }),
  },
  async run(_a, opts, ctx) {
    const { key, who } = whoOf(opts);
    let untilMs: number;
    try {
      const now = new Date();
      // A duration back from now, mirrored forward: the policy layer's parser and calendar arithmetic.
      untilMs = 2 * now.getTime() - subtractDuration(now, parseDuration(String(opts.for))).getTime();
    } catch (err) {
      throw new UsageError(`--for: ${(err as Error).message}`, { cause: err });
    }
    const reason = String(opts.reason).slice(0, 500);
    await withServiceState(opts, ctx, ({ catalog }) =>
      new CatalogLockoutStore(catalog).lock(key, untilMs, reason),
    );
    if (!ctx.globals.quiet)
      ctx.io.stdout.write(`${who}: locked out until ${new Date(untilMs).toISOString()}\n`);
    return 0;
  },
};

const release: Verb = {
  name: 'release',
  summary: 'let a subject or an address in again at once (its lockout and counted failures gone)',
  configure: whoOptions,
  exits: AUTH_EXITS,
  audit: { action: 'lockout', target: (a, opts) => ({ ...target(a, opts), change: 'release' }) },
  async run(_a, opts, ctx) {
    const { key, who } = whoOf(opts);
    const released = await withServiceState(opts, ctx, ({ catalog }) =>
      new CatalogLockoutStore(catalog).release(key),
    );
    if (!released) {
      ctx.io.stderr.write(`zapas: ${who} is not locked out\n`);
      return 1;
    }
    if (!ctx.globals.quiet) ctx.io.stdout.write(`${who}: let in again\n`);
    return 0;
  },
};

export const lockout: Verb = {
  name: 'lockout',
  summary: 'lockouts of subjects and addresses: show, set, release',
  exits: [0, 2],
  run: async () => 2,
  subverbs: [show, set, release],
};
