// Bundles a TypeScript bench script (and the project code it imports) into one CommonJS file that a
// fresh `node` runs: shared by the benches that measure a script in its own process.
import { build } from 'esbuild';

/** Bundles `entry` to `outfile`; `options` adds to or overrides esbuild's (externals, node paths). */
export async function bundleScript(entry, outfile, options = {}) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    logLevel: 'warning',
    ...options,
  });
  return outfile;
}
