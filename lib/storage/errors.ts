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

/** A ranged read asked for bytes past the end of the object: it is shorter than the caller expected. */
export class ObjectTruncatedError extends StorageError {
  override readonly name = 'ObjectTruncatedError';
  constructor(
    readonly objectName: string,
    location: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`object ${objectName} in ${location} is truncated: ${detail}`, options);
  }

  /**
   * A zero-length read still has to prove the object is long enough: a range starting past the end is
   * the caller's wrong idea of the size, as it would be for a longer read. Returns the empty result.
   */
  static emptyReadAt(objectName: string, location: string, offset: number, size: number): Buffer {
    if (offset > size)
      throw new ObjectTruncatedError(
        objectName,
        location,
        `wanted 0 bytes at ${offset} but it has ${size} bytes`,
      );
    return Buffer.alloc(0);
  }
}

/**
 * An object name or list prefix that no adapter may accept. The rules are the same for every adapter
 * so that a repository written to a folder can be copied to a bucket and back: '/'-separated, relative,
 * no empty, '.' or '..' segments (which on a filesystem would escape the repository root), no
 * backslash or NUL.
 */
export class InvalidObjectNameError extends StorageError {
  override readonly name = 'InvalidObjectNameError';
  constructor(
    readonly objectName: string,
    location: string,
    reason: string,
  ) {
    super(`invalid object name ${JSON.stringify(objectName)} for ${location}: ${reason}`);
  }

  /** Throws InvalidObjectNameError unless `name` is a valid object name. */
  static assertName(name: string, location: string): void {
    if (name === '') throw new InvalidObjectNameError(name, location, 'empty');
    InvalidObjectNameError.assertSegments(name, name.split('/'), location);
  }

  /**
   * Throws InvalidObjectNameError unless `prefix` is a valid list prefix: '' (everything), or the start
   * of a valid name, such as `data/`, `data/a` or `snapshots/`.
   */
  static assertPrefix(prefix: string, location: string): void {
    if (prefix === '') return;
    const segments = prefix.split('/');
    // The last segment may be empty ('data/') or partial ('data/a'); the others must be whole names.
    const last = segments.pop() ?? '';
    if (segments.length > 0) InvalidObjectNameError.assertSegments(prefix, segments, location);
    if (last === '.' || last === '..' || /[\\\0]/.test(last)) {
      throw new InvalidObjectNameError(prefix, location, `bad segment ${JSON.stringify(last)}`);
    }
  }

  private static assertSegments(whole: string, segments: readonly string[], location: string): void {
    for (const segment of segments) {
      if (segment === '') {
        throw new InvalidObjectNameError(whole, location, 'empty segment (leading, trailing or double /)');
      }
      if (segment === '.' || segment === '..' || /[\\\0]/.test(segment)) {
        throw new InvalidObjectNameError(whole, location, `bad segment ${JSON.stringify(segment)}`);
      }
    }
  }
}

/**
 * A repository URL that names no storage this build can open. Any `user:password@` part is replaced by
 * `***@` before the URL reaches the message or the `url` field, since such errors end up in logs.
 */
export class StorageUrlError extends StorageError {
  override readonly name = 'StorageUrlError';
  /** The URL as given, with credentials redacted. */
  readonly url: string;
  constructor(url: string, reason: string, options?: ErrorOptions) {
    const shown = redactUrlCredentials(url);
    super(
      `cannot open repository ${JSON.stringify(shown)}: ${reason}; ` +
        'accepted forms: a folder path, file:///absolute/path, s3://bucket[/prefix]',
      options,
    );
    this.url = shown;
  }
}

/** Replaces the userinfo of `scheme://user:secret@host…` with `***`, so a URL can be shown in messages. */
export function redactUrlCredentials(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@');
}
