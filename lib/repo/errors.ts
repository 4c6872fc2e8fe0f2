/** Errors of the repository layer. Each names the object it is about; none carries key material. */
export class RepositoryError extends Error {
  override readonly name: string = 'RepositoryError';
}

/** No repository (no `config` object) at the given location. */
export class RepositoryNotFoundError extends RepositoryError {
  override readonly name = 'RepositoryNotFoundError';
}

/** A repository already exists where `init` was asked to create one. */
export class RepositoryExistsError extends RepositoryError {
  override readonly name = 'RepositoryExistsError';
}

/** No key slot opens with the given password or key. */
export class WrongKeyError extends RepositoryError {
  override readonly name = 'WrongKeyError';
}

/** An error about one stored object; the message starts with the object's name. */
export class ObjectError extends RepositoryError {
  constructor(
    readonly objectName: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${objectName}: ${detail}`, options);
  }
}

/** Stored bytes failed authentication, hashing or parsing: the object is damaged or was tampered with. */
export class IntegrityError extends ObjectError {
  override readonly name = 'IntegrityError';
}

/** An object that something refers to is not in the repository. */
export class MissingObjectError extends ObjectError {
  override readonly name = 'MissingObjectError';
}

/** Another process holds a lock that conflicts with the requested operation. */
export class LockedError extends RepositoryError {
  override readonly name = 'LockedError';
}

/** A snapshot id or prefix matched nothing, or more than one snapshot. */
export class SnapshotNotFoundError extends RepositoryError {
  override readonly name = 'SnapshotNotFoundError';
}

/** The repository was written by a newer format version than this program reads. */
export class UnsupportedFormatError extends RepositoryError {
  override readonly name = 'UnsupportedFormatError';
}
