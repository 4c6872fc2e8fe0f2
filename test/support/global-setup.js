// Before the suite: builds dist/ once (tests that spawn the real command need it: the script dist/zapas.cjs
// and the executable dist/zapas) and, as root, makes sure the PostgreSQL OS user can run the executable
// (the pg tests' clusters call it as that user, as archive_command and restore_command).
const { execFileSync, spawnSync } = require('node:child_process');
const { chmodSync, existsSync, statSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));

module.exports = async () => {
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  if (process.getuid?.() === 0 && RUNUSER && spawnSync('id', ['postgres']).status === 0)
    reachableByPostgres();
};

function postgresCanRun() {
  const zapas = path.join(ROOT, 'dist', 'zapas');
  const check = `test -x '${zapas}'`;
  return spawnSync(RUNUSER, ['-u', 'postgres', '--', 'sh', '-c', check]).status === 0;
}

/**
 * A clone in a private folder (mktemp -d makes 0700 ones) hides dist/ from the postgres user.
 * Folders above the project get search permission for others (o+x: entering, not listing), each named.
 */
function reachableByPostgres() {
  if (postgresCanRun()) return;
  const dirs = [];
  for (let dir = path.dirname(path.resolve(ROOT)); ; dir = path.dirname(dir)) {
    dirs.push(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const dir of [...dirs, path.resolve(ROOT)]) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      chmodSync(dir, mode | 0o001);
      process.stderr.write(`test setup: ${dir} made searchable (o+x) so the postgres user reaches zapas\n`);
    }
  }
  if (!postgresCanRun()) throw new Error('the postgres user cannot run dist/zapas: the pg tests need it');
}
