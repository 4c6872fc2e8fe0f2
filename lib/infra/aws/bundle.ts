/**
 * A part's bundle folder (dist/functions/<name>/, built by scripts/build.mjs) as the Lambda asset. The
 * app synthesises before every stage has a handler: a missing folder is created empty and the stack gets
 * a warning, so synth works on a fresh clone and the gap is visible in `cdk synth` output.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Annotations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { type AgentSpec, bundlePath, type StageSpec } from '../stages';

export interface Bundle {
  /** The folder the asset zips. */
  dir: string;
  /** Lambda's handler string: the bundle's module and its `handler` export (`index.handler`). */
  handler: string;
}

/** The bundle of `part` under the repository `root`; warns on `scope` when it is not built. */
export function stageBundle(root: string, part: StageSpec | AgentSpec, scope: IConstruct): Bundle {
  const file = join(root, bundlePath(part));
  const dir = dirname(file);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    Annotations.of(scope).addWarningV2(
      'zapas:bundle-missing',
      `${bundlePath(part)} is not built (no ${part.entry} yet?): this function deploys without its code`,
    );
  }
  return { dir, handler: `${basename(file, '.cjs')}.handler` };
}
