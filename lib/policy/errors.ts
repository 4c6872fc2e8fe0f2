/**
 * Errors raised by the retention policy: a rule or duration the user wrote that cannot be applied.
 * The CLI maps every PolicyError to a usage exit code; the message is meant to be shown as is.
 */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}
