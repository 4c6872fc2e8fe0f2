// Builds dist/zapas.cjs once before the suite: tests that spawn the real command (kill -9, exit codes) need it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async () => {
  execFileSync(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'build.mjs')], {
    cwd: path.join(__dirname, '..', '..'),
    stdio: 'inherit',
  });
};
