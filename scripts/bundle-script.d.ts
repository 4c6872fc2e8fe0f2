import type { BuildOptions } from 'esbuild';

/** Bundles `entry` to `outfile` and gives `outfile`; `options` adds to or overrides esbuild's (externals, node paths). */
export function bundleScript(entry: string, outfile: string, options?: BuildOptions): Promise<string>;
