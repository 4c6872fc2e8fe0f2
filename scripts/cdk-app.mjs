// The CDK app command (cdk.json "app"): builds the function bundles (scripts/build.mjs), bundles
// bin/cdk.ts to dist/cdk.cjs with esbuild — aws-cdk-lib, constructs and cdk-nag stay external, loaded from
// node_modules — and runs it. No ts-node, no Docker, no network: a fresh clone after `npm install`.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
// The CLI reads the cloud assembly from CDK_OUTDIR, not stdout; the build's warnings go to stderr.
// ZAPAS_CDK_SKIP_BUILD=1: dist/functions is built already (the test suite's setup builds it once, and
// rebuilding it under tests that run it would race them).
if (process.env.ZAPAS_CDK_SKIP_BUILD !== '1')
  execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
const outfile = join(root, 'dist', 'cdk.cjs');
await build({
  entryPoints: [join(root, 'bin', 'cdk.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['aws-cdk-lib', 'constructs', 'cdk-nag'],
  logLevel: 'warning',
});
createRequire(import.meta.url)(outfile);
