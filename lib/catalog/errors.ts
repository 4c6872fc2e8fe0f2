/**
 * Errors of the catalog's stores (the state machine's own, StaleStateError and IllegalTransitionError,
 * are in jobs.ts: they are outcomes callers handle, these are failures an operator reads).
 */

/**
 * The catalog cannot be used as it is: a damaged or foreign file, one a newer zapas made, an earlier
 * catalog that cannot be imported, a store that failed. The message names the file and what to do.
 */
export class CatalogError extends Error {
  override readonly name: string = 'CatalogError';
}

/** Another process held the catalog's database for longer than a change may wait for it. */
export class CatalogBusyError extends CatalogError {
  override readonly name = 'CatalogBusyError';
}
