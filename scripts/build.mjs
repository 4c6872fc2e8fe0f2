// Bundles the CLI into dist/ with esbuild: one file that starts fast (archive_command runs it per WAL segment).
import { build } from 'esbuild';

await build({
  entryPoints: { zapas: 'bin/zapas.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  sourcemap: 'linked',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
