/**
 * The CLI's side of the audit trail, in one place: a verb declares what it does (`audit` in its table
 * entry) and runVerb records it, for every verb alike. Order: the intent (`allowed`) is appended the
 * moment the verb has opened its repository through the context, before it reads, restores, deletes or
 * changes anything; the outcome (`succeeded`, `failed`, or `denied` when the verb refused the request)
 * after it ends. An intent that cannot be appended stops the verb before it acts; an outcome that
 * cannot be appended turns its exit status into a failure. Nothing is recorded before the repository
 * is open: without its key no event can be sealed (a wrong password is not in the trail).
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { AuditLog, type AuditRepository } from '../audit/audit-log';
import type { AuditAction, AuditEntry, AuditOutcome } from '../audit/event';
import type { VerbContext } from './context';
import { UsageError } from './errors';
import type { Verb, VerbOptions } from './verb';

/** What a verb's runs put in the audit trail. */
export interface VerbAudit {
  readonly action: AuditAction;
  /** What it is done to, from the verb's arguments and options (no secret). */
  target?(args: readonly string[], opts: VerbOptions): Record<string, unknown>;
  /** Runs that act on nothing and are not recorded (a dry run: `prune --dry-run` changes nothing at all). */
  skip?(opts: VerbOptions): boolean;
}

/** The recorder a verb's context carries while it runs (openRepo calls `opened`). */
export interface CliAudit {
  /** The verb opened `repo`: records its intent there (once: a second repository, copy's destination, is not). */
  opened(repo: AuditRepository): Promise<void>;
}

/** The audit trail could not record an action: the action is not done (or its exit says it failed). */
export class AuditRecordError extends Error {
  override readonly name = 'AuditRecordError';
}

/** Longest reason kept (an error message). */
const MAX_REASON = 1000;
/** Longest target value kept. */
const MAX_VALUE = 1000;
const CORRELATION_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Runs `verb` (`command`: its words, `key remove`), recording it in the audit trail when it declares an action. */
export async function runVerb(
  verb: Verb,
  command: string,
  args: string[],
  opts: VerbOptions,
  ctx: VerbContext,
): Promise<number> {
  if (!verb.audit || verb.audit.skip?.(opts)) return verb.run(args, opts, ctx);
  const recorder = new Recorder(command, verb.audit, args, opts, ctx.io.env);
  let code: number;
  try {
    code = await verb.run(args, opts, { ...ctx, audit: recorder });
  } catch (err) {
    await recorder.finish({ error: err });
    throw err;
  }
  await recorder.finish({ code });
  return code;
}

/** The correlation id of this invocation: ZAPAS_CORRELATION_ID when set (checked), else a fresh one. */
export function correlationIdOf(env: NodeJS.ProcessEnv): string {
  const given = env.ZAPAS_CORRELATION_ID;
  if (given === undefined || given === '') return randomUUID();
  if (!CORRELATION_ID.test(given))
    throw new UsageError('ZAPAS_CORRELATION_ID must be 1 to 128 letters, digits or . _ : @ / + = -');
  return given;
}

/** The OS user running zapas (uid when the system has no name for it). */
export function osUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

class Recorder implements CliAudit {
  private readonly correlationId: string;
  private readonly target: Record<string, string>;
  private log: AuditLog | undefined;
  private intentRecorded = false;

  constructor(
    private readonly command: string,
    private readonly declared: VerbAudit,
    args: readonly string[],
    opts: VerbOptions,
    env: NodeJS.ProcessEnv,
  ) {
    this.correlationId = correlationIdOf(env);
    this.target = targetStrings(declared.target?.(args, opts) ?? {});
  }

  async opened(repo: AuditRepository): Promise<void> {
    if (this.log) return;
    this.log = new AuditLog(repo);
    try {
      await this.log.append(this.entry('allowed'));
    } catch (err) {
      throw new AuditRecordError(
        `${this.command} not done: the audit trail could not record it (${(err as Error).message})`,
        { cause: err },
      );
    }
    this.intentRecorded = true;
  }

  async finish(end: { code: number } | { error: unknown }): Promise<void> {
    if (!this.intentRecorded) {
      if ('code' in end && end.code === 0)
        throw new AuditRecordError(
          `${this.command} declares an audit action but opened no repository through the context (a bug): nothing was recorded`,
        );
      return; // it failed before its repository was open: nothing can be sealed
    }
    const [outcome, reason] =
      'code' in end
        ? end.code === 0
          ? (['succeeded', undefined] as const)
          : (['failed', `exit status ${end.code}`] as const)
        : ([end.error instanceof UsageError ? 'denied' : 'failed', messageOf(end.error)] as const);
    try {
      await this.log!.append(this.entry(outcome, reason));
    } catch (err) {
      const done = 'code' in end && end.code === 0 ? 'was done' : 'ended';
      throw new AuditRecordError(
        `${this.command} ${done}, but the audit trail could not record its outcome (${(err as Error).message})`,
        { cause: 'error' in end ? end.error : err },
      );
    }
  }

  private entry(outcome: AuditOutcome, reason?: string): AuditEntry {
    return {
      principal: { kind: 'local', subject: osUserName(), roles: [] },
      action: this.declared.action,
      target: { verb: this.command, ...this.target },
      outcome,
      ...(reason ? { reason: reason.slice(0, MAX_REASON) } : {}),
      correlationId: this.correlationId,
      origin: 'cli',
    };
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A target's fields as strings, absent and empty ones left out, each cut to MAX_VALUE. */
function targetStrings(fields: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === false || v === '') continue;
    out[k] = (v === true ? 'yes' : Array.isArray(v) ? v.join(' ') : String(v)).slice(0, MAX_VALUE);
  }
  return out;
}
