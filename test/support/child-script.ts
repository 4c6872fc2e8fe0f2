import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript entry (and the project code it imports) into one CommonJS file in `outDir`, so a
 * test can run it as a separate Node process (`process.execPath file …`): to kill it mid-work, or to race
 * two processes over one file.
 */
export async function bundleChild(entry: string, outDir: string): Promise<string> {
  const outfile = join(outDir, 'child.cjs');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node22',
    logLevel: 'warning',
  });
  return outfile;
}
