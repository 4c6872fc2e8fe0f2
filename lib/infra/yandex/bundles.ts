/**
 * The stage bundles the functions are made from: found under a dist root (scripts/build.mjs writes
 * dist/functions/<stage>/index.cjs, the path stages.ts's bundlePath names) and copied into the deployment's
 * functions/<stage>/ folder, which Terraform zips. All missing bundles are reported at once, before
 * anything is written.
 */
import { existsSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { bundlePath, type StageSpec } from '../stages';
import { MissingBundleError } from './errors';
import { FUNCTIONS_DIR } from './functions';

/** bundlePath is relative to the project; the dist root stands in for its `dist/`. */
const BUILD_ROOT = 'dist';

export interface Bundle {
  stage: string;
  /** The bundle's folder as built: index.cjs, its source map, and the native addon beside it (node_modules/). */
  dir: string;
}

/** A stage's bundle file under `distRoot`. */
export function bundleFile(distRoot: string, stage: StageSpec): string {
  return join(distRoot, relative(BUILD_ROOT, bundlePath(stage)));
}

/** Every stage's bundle, or a MissingBundleError naming each one that is not there. */
export function locateBundles(distRoot: string, stages: readonly StageSpec[]): Bundle[] {
  const missing = stages.map((s) => bundleFile(distRoot, s)).filter((f) => !existsSync(f));
  if (missing.length > 0) throw new MissingBundleError(missing);
  return stages.map((s) => ({ stage: s.name, dir: dirname(bundleFile(distRoot, s)) }));
}

/** Copies each bundle's folder to `outDir/functions/<stage>/`, replacing what an earlier run left there. */
export async function copyBundles(bundles: readonly Bundle[], outDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const b of bundles) {
    const target = join(outDir, FUNCTIONS_DIR, b.stage);
    await rm(target, { recursive: true, force: true });
    await cp(b.dir, target, { recursive: true });
    written.push(target);
  }
  return written;
}
