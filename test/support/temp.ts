import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary folder, removed after the test file (jest afterAll). */
export function useTempDir(prefix = 'zapas-test-'): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** Creates a new temporary folder now; the caller removes it. */
export function makeTempDir(prefix = 'zapas-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
