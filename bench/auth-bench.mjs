// npm run bench:auth — what verifying bearer tokens costs a request: `zapas serve` on loopback without
// `auth:` and with it (ES256 and RS256 tokens from a local JWKS file), the same GET /v1/sources answered
// BENCH_AUTH_REQUESTS times per round over one keep-alive connection, modes alternating over
// BENCH_REPEAT rounds; p50/p99 latency of each, and the server's peak RSS. Writes its section of
// bench/results.md.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { writeSection } from './results-section.mjs';
import { startServe } from './serve-process.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const WORK = path.join(ROOT, 'bench', 'work-auth');
const ZAPAS = path.join(ROOT, 'dist', 'zapas.cjs');
const REQUESTS = Number(process.env.BENCH_AUTH_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_REPEAT ?? 3);
const MARK = '<!-- bench:auth -->';
const ISSUER = 'https://id.example.org';
const log = (s) => process.stderr.write(`${s}\n`);

async function keyOf(alg) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: `${alg}-1`, alg, use: 'sig' };
  const token = await new SignJWT({ sub: 'bench-operator', roles: ['operator'] })
    .setProtectedHeader({ alg, kid: `${alg}-1` })
    .setIssuer(ISSUER)
    .setAudience('zapas')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(privateKey);
  return { jwk, token };
}

function configText(withAuth) {
  const repo = path.join(WORK, 'repo');
  return `version: 1
repositories:
  main: { url: "${repo}", residency: RU }
sources:
  saves:
    type: files
    paths: ["${WORK}"]
    repository: main
    dataClass: game-content
api:
  requests: { perSecond: 100000, burst: 10000000 }
${withAuth ? `auth: { issuer: ${ISSUER}, audience: zapas, jwks: ./jwks.json }\n` : ''}`;
}

async function serveFor(withAuth) {
  const config = path.join(WORK, withAuth ? 'auth.yaml' : 'open.yaml');
  writeFileSync(config, configText(withAuth));
  const state = path.join(WORK, withAuth ? 'state-auth' : 'state-open');
  rmSync(state, { recursive: true, force: true });
  return startServe(
    ZAPAS,
    ['--config', config, '--port', '0', '--tick', '3600', '--state', state, '--init'],
    { ...process.env, ZAPAS_PASSWORD: 'bench password' },
  );
}

/** Sequential GETs over one keep-alive connection: each request's latency in ms. */
async function measure(url, token, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const get = () =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      http
        .get(`${url}/v1/sources`, { agent, headers }, (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(performance.now() - t0)
              : reject(new Error(`GET /v1/sources answered ${res.statusCode}`)),
          );
        })
        .on('error', reject);
    });
  for (let i = 0; i < 200; i++) await get(); // warm-up: JIT, the key set read, caches
  const times = [];
  for (let i = 0; i < n; i++) times.push(await get());
  agent.destroy();
  return times;
}

function peakRssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)[1]) / 1024;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const es = await keyOf('ES256');
  const rs = await keyOf('RS256');
  writeFileSync(path.join(WORK, 'jwks.json'), JSON.stringify({ keys: [es.jwk, rs.jwk] }));
  const modes = [
    { name: 'no auth (loopback only)', auth: false, token: undefined },
    { name: 'auth, ES256 token', auth: true, token: es.token },
    { name: 'auth, RS256 token', auth: true, token: rs.token },
  ];
  const times = new Map(modes.map((m) => [m.name, []]));
  const rss = new Map(modes.map((m) => [m.name, 0]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? modes : [...modes].reverse();
    for (const m of order) {
      const { child, url } = await serveFor(m.auth);
      try {
        times.get(m.name).push(...(await measure(url, m.token, REQUESTS)));
        rss.set(m.name, Math.max(rss.get(m.name), peakRssMiB(child.pid)));
      } finally {
        child.kill('SIGTERM');
        await new Promise((res) => child.once('exit', res));
      }
      log(`round ${round + 1}: ${m.name} done`);
    }
  }
  const rows = modes.map((m) => {
    const sorted = [...times.get(m.name)].sort((a, b) => a - b);
    return { name: m.name, p50: pct(sorted, 50), p99: pct(sorted, 99), rss: rss.get(m.name) };
  });
  const base = rows[0];
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).stdout.trim();
  const section = `${MARK}
# The cost of verifying tokens per request

- date: ${new Date().toISOString()}; git ${git}; Node ${process.version}
- command: \`BENCH_AUTH_REQUESTS=${REQUESTS} BENCH_REPEAT=${ROUNDS} npm run bench:auth\`; \`zapas serve\` on loopback,
  GET /v1/sources (one source), sequential over one keep-alive connection after 200 warm-up requests;
  ${REQUESTS} requests × ${ROUNDS} rounds per mode, modes alternating; with auth every request is authenticated
  (signature, issuer, audience, times), authorized, rate-limited by its subject and recorded only when refused

| mode | p50 | p99 | p50 over no auth | peak RSS of serve |
| --- | ---: | ---: | ---: | ---: |
${rows
  .map(
    (r) =>
      `| ${r.name} | ${r.p50.toFixed(3)} ms | ${r.p99.toFixed(3)} ms | ${r === base ? '—' : `+${(r.p50 - base.p50).toFixed(3)} ms`} | ${r.rss.toFixed(0)} MiB |`,
  )
  .join('\n')}
`;
  writeSection(MARK, section);
  process.stdout.write(section);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
