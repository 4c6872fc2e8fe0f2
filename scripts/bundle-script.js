// Bundles a TypeScript entry (and the project code it imports) into one CommonJS file that a fresh `node`
// runs: for the benches that measure a script in its own process, and the tests that kill one mid-work or
// race several over one file. CommonJS, so that both the .mjs benches and the TypeScript tests load it.
const { build } = require('esbuild');

/** Bundles `entry` to `outfile` and gives `outfile`; `options` adds to or overrides esbuild's (externals, node paths). */
async function bundleScript(entry, outfile, options = {}) {
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

module.exports = { bundleScript };
