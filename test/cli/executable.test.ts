import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProcess, TEST_PASSWORD_FOR_CLI, ZAPAS_BIN, ZAPAS_EXE } from '../support/cli';
import { WEAK_KDF_ENV } from '../support/repo';
import { useTempDir } from '../support/temp';

/** The machine's own Node, older than the script needs (Debian's 20 here), and its version. */
const SYSTEM_NODE = '/usr/bin/node';
const SYSTEM_NODE_VERSION = existsSync(SYSTEM_NODE)
  ? execFileSync(SYSTEM_NODE, ['--version'], { encoding: 'utf8' }).trim().slice(1)
  : undefined;
const OLD_SYSTEM_NODE = SYSTEM_NODE_VERSION !== undefined && Number(SYSTEM_NODE_VERSION.split('.')[0]) < 24;

const run = runProcess;

describe('dist/zapas, the self-contained executable', () => {
  const tmp = useTempDir();

  it('runs `zapas version` with an empty PATH and nothing else in its environment', async () => {
    const r = await run(ZAPAS_EXE, ['version'], { PATH: '' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^zapas \d+\.\d+\.\d+ \(self-contained executable, Node\.js v24\.\d+\.\d+\)\n$/);
    const json = JSON.parse((await run(ZAPAS_EXE, ['version', '--json'], {})).stdout);
    expect(json).toMatchObject({ form: 'self-contained executable', path: ZAPAS_EXE });
  });

  it('backs up with worker threads, restores and checks with PATH empty, or with an old Node first on it', async () => {
    for (const [label, PATH] of [
      ['empty', ''],
      ['system', '/usr/bin:/bin'],
    ] as const) {
      const base = join(tmp(), `round-${label}`);
      const data = join(base, 'data');
      const scratch = join(base, 'tmp');
      await mkdir(join(data, 'saves'), { recursive: true });
      await mkdir(scratch);
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 12; i++) {
        files[`saves/player-${i}.bin`] = randomBytes(200_000 + i * 10_000);
        files[`log-${i}.txt`] = Buffer.from(`line ${i}\n`.repeat(20_000 + i));
      }
      for (const [name, bytes] of Object.entries(files)) await writeFile(join(data, name), bytes);
      const env = {
        PATH,
        TMPDIR: scratch,
        ZAPAS_REPOSITORY: join(base, 'repo'),
        ZAPAS_PASSWORD: TEST_PASSWORD_FOR_CLI,
        ...WEAK_KDF_ENV,
        ZAPAS_WORKERS: '2',
      };
      const steps = [
        ['init'],
        ['backup', data],
        ['restore', 'latest', '--target', join(base, 'out')],
        ['check', '--read-data'],
      ];
      for (const step of steps) {
        const r = await run(ZAPAS_EXE, step, env);
        expect({ label, step: step[0], code: r.code, stderr: r.stderr }).toEqual({
          label,
          step: step[0],
          code: 0,
          stderr: '',
        });
      }
      for (const [name, bytes] of Object.entries(files))
        expect((await readFile(join(base, 'out', data, name))).equals(bytes)).toBe(true);
      // The addon was unpacked into a private folder for each thread that hashed, and nothing is left.
      expect(await readdir(scratch)).toEqual([]);
    }
  });

  it('loads nothing from a node_modules of the folder it runs in, and unpacks its addon elsewhere when TMPDIR is absent', async () => {
    const base = join(tmp(), 'hostile-cwd');
    const fake = join(base, 'node_modules', '@napi-rs', 'blake-hash');
    await mkdir(fake, { recursive: true });
    await writeFile(join(fake, 'package.json'), '{"name":"@napi-rs/blake-hash","main":"index.js"}');
    await writeFile(join(fake, 'index.js'), 'throw new Error("planted module loaded")');
    const runtime = join(base, 'runtime');
    await mkdir(runtime, { mode: 0o700 });
    await mkdir(join(base, 'data'));
    await writeFile(join(base, 'data', 'f'), randomBytes(100_000));
    const env = {
      PATH: '',
      TMPDIR: join(base, 'no-such-folder'),
      XDG_RUNTIME_DIR: runtime,
      ZAPAS_REPOSITORY: join(base, 'repo'),
      ZAPAS_PASSWORD: TEST_PASSWORD_FOR_CLI,
      ...WEAK_KDF_ENV,
      ZAPAS_WORKERS: '1',
    };
    expect((await run(ZAPAS_EXE, ['init'], env, base)).code).toBe(0);
    const backup = await run(ZAPAS_EXE, ['-q', 'backup', 'data'], env, base);
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(await readdir(runtime)).toEqual([]);
  });

  it('runs wal-push and wal-fetch from their own bundle, with its code cache accepted', async () => {
    const help = await run(ZAPAS_EXE, ['-q', 'pg', 'wal-push', '--help'], { PATH: '' });
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    expect(help.stdout).toMatch(/--async/);
    // The lean table knows only the WAL verbs; the full one knows the rest.
    expect((await run(ZAPAS_EXE, ['pg', 'wal-fetch', '--help'], { PATH: '' })).stdout).toMatch(
      /--no-prefetch/,
    );
    const full = await run(ZAPAS_EXE, ['pg', '--help'], { PATH: '' });
    expect(full.stderr).toBe('');
    expect(full.stdout).toMatch(/restore-dump/);
  });
});

(OLD_SYSTEM_NODE ? describe : describe.skip)('dist/zapas.cjs, the script, under an older Node', () => {
  it('says in one line what it needs and what to run instead, exit 2', async () => {
    for (const args of [['version'], ['pg', 'wal-push', '--source', 'x', '/nonexistent']]) {
      const r = await run(SYSTEM_NODE, [ZAPAS_BIN, ...args], { PATH: '/usr/bin:/bin' });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        `zapas: needs Node.js 24 or newer (this is ${SYSTEM_NODE_VERSION} at ${SYSTEM_NODE}); run ${ZAPAS_EXE}, the self-contained executable\n`,
      );
    }
    // Run through its #! line with the old Node first on PATH: the same line.
    const viaShebang = await run(ZAPAS_BIN, ['version'], { PATH: '/usr/bin:/bin' });
    expect(viaShebang.code).toBe(2);
    expect(viaShebang.stderr.split('\n')).toHaveLength(2);
  });
});
