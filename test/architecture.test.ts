import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * DESIGN.md's layer table as a test: each folder imports only the folders it may depend on, so a
 * wrong-way import fails the build (depguard's habit). lib/repo may see the Storage port (interface
 * and errors) but never an adapter; cloud SDKs appear only in adapters.
 */
const ROOT = resolve(__dirname, '..');
const ALLOWED: Record<string, readonly string[]> = {
  'lib/repo': ['lib/repo', 'lib/storage/storage.ts', 'lib/storage/errors.ts'],
  'lib/storage': ['lib/storage'],
  'lib/keys': ['lib/keys', 'lib/repo'],
  'lib/policy': ['lib/policy'],
  'lib/sources': [
    'lib/sources',
    'lib/repo',
    'lib/storage/storage.ts',
    'lib/storage/errors.ts',
    'lib/keys',
    'lib/policy',
  ],
  'lib/security': ['lib/security', 'lib/catalog', 'lib/repo'],
  'lib/audit': [
    'lib/audit',
    'lib/security',
    'lib/repo',
    'lib/storage/storage.ts',
    'lib/storage/errors.ts',
    'lib/catalog',
  ],
  'lib/cli': ['lib/'],
  bin: ['lib/'],
};
const SDK_ALLOWED = ['lib/storage/s3.ts'];

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [
    ...text.matchAll(/^\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/gm),
    ...text.matchAll(/import\(['"]([^'"]+)['"]\)/g),
  ].map((m) => m[1]!);
}

describe('layers point one way (DESIGN.md)', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer} imports only ${allowed.join(', ')}`, () => {
      const wrong: string[] = [];
      for (const file of files(layer)) {
        for (const spec of imports(file)) {
          if (!spec.startsWith('.')) {
            if (spec.startsWith('@aws-sdk/') && !SDK_ALLOWED.includes(file))
              wrong.push(`${file} → ${spec} (cloud SDK outside an adapter)`);
            continue;
          }
          const target = relative(ROOT, resolve(ROOT, dirname(file), spec));
          const ok = allowed.some((a) =>
            a.endsWith('.ts') ? `${target}.ts` === a : `${target}/`.startsWith(a.endsWith('/') ? a : `${a}/`),
          );
          if (!ok) wrong.push(`${file} → ${target}`);
        }
      }
      expect(wrong).toEqual([]);
    });
  }

  it('no source file is longer than 600 lines', () => {
    const long = [...files('lib'), ...files('bin')].filter(
      (f) => readFileSync(join(ROOT, f), 'utf8').split('\n').length > 600,
    );
    expect(long).toEqual([]);
  });
});
