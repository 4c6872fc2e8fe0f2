/** Errors of the Yandex deployment writer: each says what is wrong and what to do about it. */

/** The deployment cannot be written as asked (a limit the stage table or configuration exceeds). */
export class DeploymentError extends Error {
  override readonly name: string = 'DeploymentError';
}

/** Function bundles that `npm run build` has not made (yet): every missing one is named. */
export class MissingBundleError extends DeploymentError {
  override readonly name = 'MissingBundleError';
  constructor(readonly missing: readonly string[]) {
    super(
      `function bundle${missing.length === 1 ? '' : 's'} missing: ${missing.join(', ')}: run \`npm run build\` first (scripts/build.mjs bundles every functions/<stage>/handler.ts; a stage without its handler cannot be deployed yet)`,
    );
  }
}
