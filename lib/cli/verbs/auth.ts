/**
 * `zapas auth totp enrol|remove`: an operator's second factor for the service's critical operations
 * (docs/security.md, "Step-up (TOTP)"). Works on the embedded catalog of the state folder beside the
 * configuration — the one `zapas serve` uses, which stays open to other processes while serve runs —
 * and seals the secret under the key repository's master key (lib/security/totp-seal.ts); `zapas auth
 * lockout` (auth-lockout.ts) shows, sets and lifts lockouts.
 */

import type { Command } from 'commander';
import { StepUpError, TotpStepUp } from '../../security/totp';
import type { VerbContext } from '../context';
import { UsageError } from '../errors';
import { printJson } from '../io';
import type { Verb, VerbOptions } from '../verb';
import { lockout } from './auth-lockout';
import { AUTH_EXITS, stateOptions, subjectOf, withServiceState } from './auth-state';

const EXITS = AUTH_EXITS;

function options(cmd: Command): Command {
  return stateOptions(cmd).requiredOption(
    '--subject <name>',
    'whose second factor: the subject (`sub`) of their tokens',
  );
}

/** Runs `work` with a TotpStepUp over the configuration's catalog and key repository. */
function withStepUp<T>(
  opts: VerbOptions,
  ctx: VerbContext,
  work: (stepUp: TotpStepUp) => Promise<T>,
): Promise<T> {
  return withServiceState(opts, ctx, ({ catalog, keyring }) => work(new TotpStepUp({ catalog, keyring })));
}

const enrol: Verb = {
  name: 'enrol',
  summary: 'enrol a second factor: prints its secret for an authenticator app, once',
  configure: (cmd) =>
    options(cmd)
      .option('--replace', "replace the subject's second factor when it has one")
      .option('--json', 'print the enrolment as one JSON object (also when stdout is not a terminal)'),
  exits: EXITS,
  audit: { action: 'enrol', target: (_a, opts) => ({ subject: opts.subject, replace: opts.replace }) },
  async run(_a, opts, ctx) {
    const subject = subjectOf(opts);
    const terminal = (ctx.io.stdout as { isTTY?: boolean }).isTTY === true;
    if (!opts.json && !terminal)
      throw new UsageError(
        'the secret is printed on a terminal only (stdout is not one): run it on a terminal, or pass --json to write it to a pipe on purpose',
      );
    const e = await withStepUp(opts, ctx, (s) => s.enrol(subject, { replace: Boolean(opts.replace) })).catch(
      (err: unknown) => {
        if (err instanceof StepUpError && err.reason === 'already-enrolled')
          throw new UsageError(
            `${subject} already has a second factor: --replace replaces it (the old one stops working)`,
          );
        throw err;
      },
    );
    const warning = 'this secret is shown once: add it to an authenticator app now, it cannot be shown again';
    if (opts.json) printJson(ctx.io, { messageType: 'totp-enrolment', ...e, warning });
    else
      ctx.io.stdout.write(
        `${e.subject}: second factor enrolled (TOTP, ${e.digits} digits, ${e.period} s, ${e.algorithm})\n` +
          `WARNING: ${warning}\n` +
          `  URI:    ${e.uri}\n` +
          `  secret: ${e.secret}\n`,
      );
    return 0;
  },
};

const remove: Verb = {
  name: 'remove',
  summary: "remove a subject's second factor (its critical operations are refused until it enrols again)",
  configure: options,
  exits: EXITS,
  audit: { action: 'enrol', target: (_a, opts) => ({ subject: opts.subject, change: 'remove' }) },
  async run(_a, opts, ctx) {
    const subject = subjectOf(opts);
    if (!(await withStepUp(opts, ctx, (s) => s.remove(subject)))) {
      ctx.io.stderr.write(`zapas: ${subject} has no second factor enrolled\n`);
      return 1;
    }
    if (!ctx.globals.quiet) ctx.io.stdout.write(`${subject}: second factor removed\n`);
    return 0;
  },
};

const totp: Verb = {
  name: 'totp',
  summary: 'one-time codes (TOTP) for the critical operations: enrol, remove',
  exits: [0, 2],
  run: async () => 2,
  subverbs: [enrol, remove],
};

export const auth: Verb = {
  name: 'auth',
  summary: "the service's authentication: second factors",
  exits: [0, 2],
  run: async () => 2,
  subverbs: [totp, lockout],
};
