/**
 * One ingest function instance's work, without the cloud around it: an export in a landing folder, cut in
 * 32 MiB parts, each stored by ingestPart on this one thread (a function has no worker pool), then the
 * commit. Prints one JSON line: bytes, seconds, MB/s, peak RSS. Run by bench/functions-bench.mjs.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EmbeddedCatalog } from '../lib/catalog/embedded-catalog';
import { PasswordKeySlot, SCRYPT_MIN_LOG_N } from '../lib/keys/password';
import { parseConfig } from '../lib/pipeline/config/load';
import { acceptLandingObject, commitIngest, ingestPart, planIngest } from '../lib/pipeline/ingest';
import { startReady } from '../lib/pipeline/orchestrate';
import { Repository } from '../lib/repo/repository';
import { FsStorage } from '../lib/storage/fs';

async function main(): Promise<void> {
  const [work, mib] = [process.argv[2]!, Number(process.argv[3] ?? 128)];
  const landingDir = join(work, 'landing');
  mkdirSync(join(landingDir, 'exports'), { recursive: true });
  // Half incompressible, half a repetitive text-like export (what a JSON export of a service looks like).
  const rows: string[] = [];
  for (let i = 0; rows.length * 80 < (mib / 2) * 1024 * 1024; i++)
    rows.push(`{"player":${i},"level":${i % 90},"gold":${(i * 7919) % 100000},"guild":"g-${i % 313}"}`);
  const bytes = Buffer.concat([randomBytes((mib / 2) * 1024 * 1024), Buffer.from(rows.join('\n'))]);
  writeFileSync(join(landingDir, 'exports', 'export.ndjson'), bytes);
  const landing = new FsStorage(landingDir);
  const repo = await Repository.init(
    new FsStorage(join(work, 'repo')),
    new PasswordKeySlot('bench', SCRYPT_MIN_LOG_N),
  );
  const config = parseConfig(`version: 1
repositories: { main: { url: ./unused, residency: RU } }
sources:
  ex: { type: export, service: bench, landing: "s3://landing/exports/", repository: main, dataClass: telemetry }
`);
  const catalog = await EmbeddedCatalog.open();
  await acceptLandingObject(
    config,
    catalog,
    { bucket: 'landing', key: 'exports/export.ndjson', size: bytes.length },
    new Date(),
  );
  const [started] = await startReady(config, catalog, 'bench', new Date());
  const job = started!.job;
  const parts = await planIngest(catalog, job, landing);
  const t0 = performance.now();
  for (const p of parts) await ingestPart({ config, catalog, repo, landing, worker: 'bench' }, p);
  const stored = (performance.now() - t0) / 1000;
  const done = await commitIngest({ config, catalog, repo, landing }, job.id);
  const total = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({
      bytes: bytes.length,
      parts: parts.length,
      state: done?.state,
      secondsParts: stored,
      secondsTotal: total,
      mbPerSecond: bytes.length / 1e6 / total,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    })}\n`,
  );
}

void main();
