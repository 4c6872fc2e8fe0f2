/** Time source, injected so that leases, grace periods and retention are tested at any date. */
export interface Clock {
  now(): Date;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => new Date() };
