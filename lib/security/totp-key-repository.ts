/**
 * Which repository's master key seals the second factors. Everything that seals or opens a TOTP record
 * (the CLI, serve, the functions) names the repository through keyRepositoryOf, so they all agree.
 */

/** What keyRepositoryOf reads of the service's configuration. */
export interface KeyRepositorySettings {
  repositories: Readonly<Record<string, unknown>>;
  auth?: { keyRepository?: string } | undefined;
}

export class KeyRepositoryError extends Error {
  override readonly name = 'KeyRepositoryError';
}

/**
 * The key repository's name: the configuration's `auth.keyRepository` when it has one, otherwise the
 * first repository it lists.
 */
export function keyRepositoryOf(config: KeyRepositorySettings): string {
  const named = config.auth?.keyRepository;
  if (named !== undefined) {
    if (!Object.hasOwn(config.repositories, named))
      throw new KeyRepositoryError(
        `auth.keyRepository names "${named}", which is not a configured repository`,
      );
    return named;
  }
  const first = Object.keys(config.repositories)[0];
  if (first === undefined)
    throw new KeyRepositoryError('the configuration has no repository whose key could seal second factors');
  return first;
}
