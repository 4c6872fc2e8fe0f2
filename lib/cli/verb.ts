import { type Command, InvalidArgumentError } from 'commander';
import type { VerbAudit } from './cli-audit';
import type { VerbContext } from './context';

/** Parsed options of a verb, as commander hands them over. */
export type VerbOptions = Record<string, unknown>;

/** One verb of the command table: its options and `run`, which returns the exit code. */
export interface Verb {
  readonly name: string;
  readonly summary: string;
  /** Commander argument specs, e.g. `<path...>`, `[snapshot]`. */
  readonly args?: readonly string[];
  /** Adds the verb's options to its command. */
  configure?(cmd: Command): void;
  /** Exit codes this verb can return, listed under EXIT STATUS in its --help. */
  readonly exits: readonly number[];
  run(args: string[], opts: VerbOptions, ctx: VerbContext): Promise<number>;
  /** What each run puts in the repository's audit trail (cli-audit.ts); absent: nothing. */
  readonly audit?: VerbAudit;
  /** Sub-verbs (`key add`, `key list`, …). */
  readonly subverbs?: readonly Verb[];
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * The parser of every whole-number option: decimal digits only (no `1e3`, `0x10`, blanks or signs),
 * within [min, max]. A bad value throws commander's InvalidArgumentError, which commander prints with the
 * option's name and main maps to exit 2 (wrong usage), like any other usage error.
 */
export function intOption(
  name: string,
  { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): (value: string) => number {
  return (value: string) => {
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        `${name} takes a whole number ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`}, not "${value}"`,
      );
    return n;
  };
}
