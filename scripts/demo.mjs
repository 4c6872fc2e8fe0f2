// The README's main job on an embedded default: a sample game-platform folder is backed up into a local
// encrypted repository, changed, backed up again, checked, and restored; every command is printed.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = join(root, '.tmp', 'demo');
const data = join(work, 'game-platform');
const repo = join(work, 'repo');
const restored = join(work, 'restored');
const zapas = join(root, 'dist', 'zapas.cjs');
// A demo password: real repositories take theirs from ZAPAS_PASSWORD_FILE or a prompt.
const env = { ...process.env, ZAPAS_REPOSITORY: repo, ZAPAS_PASSWORD: 'demo password - change me' };

function run(...args) {
  process.stdout.write(`\n$ zapas ${args.join(' ')}\n`);
  process.stdout.write(execFileSync(process.execPath, [zapas, ...args], { env, encoding: 'utf8' }));
}

function makeSample() {
  for (let i = 0; i < 300; i++) {
    const dir = join(data, 'saves', String(i % 10).padStart(2, '0'));
    mkdirSync(dir, { recursive: true });
    const inventory = Array.from({ length: 20 + (i % 30) }, (_, slot) => ({
      slot,
      item: (i * 31 + slot * 7) % 5000,
      qty: 1 + (slot % 9),
    }));
    writeFileSync(
      join(dir, `player-${i}.json`),
      JSON.stringify({ player: i, level: 1 + (i % 80), inventory }, null, 1),
    );
  }
  mkdirSync(join(data, 'catalog'), { recursive: true });
  writeFileSync(
    join(data, 'catalog', 'games.csv'),
    Array.from({ length: 5000 }, (_, i) => `${i},Game ${i},${(i * 37) % 2000} RUB`).join('\n'),
  );
  mkdirSync(join(data, 'assets'), { recursive: true });
  const asset = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < asset.length; i++) asset[i] = (i * 2654435761) >>> 24;
  writeFileSync(join(data, 'assets', 'textures.pak'), asset);
}

rmSync(work, { recursive: true, force: true });
makeSample();
process.stdout.write(`sample data in ${data}\nrepository in ${repo}\n`);
run('init');
run('backup', data, '--tag', 'demo', '--source', 'game-platform');
writeFileSync(
  join(data, 'saves', '00', 'player-0.json'),
  JSON.stringify({ player: 0, level: 80, inventory: [] }),
);
writeFileSync(join(data, 'saves', 'new-player.json'), JSON.stringify({ player: 300, level: 1 }));
run('backup', data, '--tag', 'demo', '--source', 'game-platform');
run('snapshots');
run(
  'diff',
  execFileSync(process.execPath, [zapas, 'snapshots', '--json'], { env, encoding: 'utf8' })
    .trim()
    .split('\n')[0]
    .slice(7, 15),
  'latest',
);
run('check', '--read-data');
run('restore', 'latest', '--target', restored, '--verify');
run('stats');
// Who read and restored what: the diff and the restore above are in the repository's audit trail.
run('audit', 'log');
run('audit', 'verify');
process.stdout.write(`\nrestored copy in ${join(restored, data)}\n`);

// The same engine as a service: `zapas serve` with a configuration for the sample, a backup asked for
// over its HTTP API, followed until it is done, then a graceful stop.
const config = join(work, 'zapas.yaml');
writeFileSync(
  config,
  `version: 1
timezone: Europe/Moscow
repositories:
  main: { url: ${JSON.stringify(repo)}, residency: RU }
sources:
  saves:
    type: files
    paths: [${JSON.stringify(join(data, 'saves'))}]
    repository: main
    dataClass: personal
    events: [backup-now]
    schedules: [{ cron: "*/15 * * * *" }]
    retention: { keepLast: 10, maximum: 3y }
`,
);
process.stdout.write(`\n$ zapas serve --config ${config} --port 0\n`);
const server = spawn(process.execPath, [zapas, 'serve', '--config', config, '--port', '0', '--tick', '1'], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
const url = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    process.stdout.write(d);
    const m = /API on (http:\/\/\S+)\/v1/.exec(out);
    if (m) resolve(m[1]);
  });
  server.once('exit', (code) => reject(new Error(`zapas serve exited ${code}`)));
});
process.stdout.write(`\n$ curl -X POST -H 'Idempotency-Key: demo-1' ${url}/v1/sources/saves/backups\n`);
const asked = await (
  await fetch(`${url}/v1/sources/saves/backups`, { method: 'POST', headers: { 'idempotency-key': 'demo-1' } })
).json();
process.stdout.write(`${JSON.stringify(asked)}\n`);
let job = asked.job;
while (job.state !== 'succeeded' && job.state !== 'failed') {
  await new Promise((r) => setTimeout(r, 200));
  job = (await (await fetch(`${url}/v1/jobs/${job.id}`)).json()).job;
}
process.stdout.write(`\n$ curl ${url}/v1/sources/saves/jobs\n`);
process.stdout.write(
  `${JSON.stringify(await (await fetch(`${url}/v1/sources/saves/jobs`)).json(), null, 1)}\n`,
);
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
if (job.state !== 'succeeded') {
  process.stderr.write(`demo: the service's backup failed: ${job.error}\n`);
  process.exit(1);
}
