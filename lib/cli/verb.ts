import type { Command } from 'commander';
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
  /** Sub-verbs (`key add`, `key list`, …). */
  readonly subverbs?: readonly Verb[];
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses a non-negative integer option, naming the option in the error. */
export function intOption(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number >= 0, not "${value}"`);
    return n;
  };
}
