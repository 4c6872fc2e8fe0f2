/** Errors raised by storage adapters. Each names the object and the storage location, never a credential. */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
}

/** The object does not exist. */
export class ObjectNotFoundError extends StorageError {
  override readonly name = 'ObjectNotFoundError';
  constructor(
    readonly objectName: string,
    location: string,
    options?: ErrorOptions,
  ) {
    super(`object ${objectName} not found in ${location}`, options);
  }
}

/** A put with ifAbsent found the object already there. */
export class ObjectExistsError extends StorageError {
  override readonly name = 'ObjectExistsError';
  constructor(
    readonly objectName: string,
    location: string,
    options?: ErrorOptions,
  ) {
    super(`object ${objectName} already exists in ${location}`, options);
  }
}

/** The storage could not be reached (connection refused, DNS, timeout) after retries. */
export class StorageUnreachableError extends StorageError {
  override readonly name = 'StorageUnreachableError';
}

/** The local disk is full (ENOSPC) or over quota (EDQUOT). */
export class NoSpaceError extends StorageError {
  override readonly name = 'NoSpaceError';
}
