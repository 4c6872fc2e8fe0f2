// Bundles the CLI into dist/ with esbuild: one file that starts fast (archive_command runs it per WAL segment).
import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';

// The command sets its own V8 flags, as a launcher script would: a small young generation, because a
// backup churns through short-lived buffers and V8's default let the main thread's heap grow by about
// 170 MB (measured on the benchmark: peak 683 -> 514 MB, and no slower).
const SHEBANG = '#!/usr/bin/env -S node --max-semi-space-size=2';

await build({
  entryPoints: { zapas: 'bin/zapas.ts', 'zapas-worker': 'bin/zapas-worker.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: 'linked',
  banner: { js: SHEBANG },
  // A native addon (.node) cannot be bundled: it is loaded from node_modules at run time.
  external: ['@napi-rs/blake-hash'],
  logLevel: 'warning',
});
await chmod('dist/zapas.cjs', 0o755);
