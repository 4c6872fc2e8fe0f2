/**
 * The agent: the container task for heavy steps (pg_basebackup, file walks), the same library as the
 * functions, with worker threads (one per core). Two ways in:
 * - ZAPAS_JOB_ID set (an ECS task started by the orchestrator): runs that job, exits 0 when it
 *   succeeded, 1 when it failed (the catalog says why), 2 when it could not start;
 * - PORT set (a Yandex Serverless Container): an HTTP server; POST /run {"jobId"} answers 202 and runs
 *   the job; GET /health answers 200.
 * A job the agent is killed in the middle of keeps its lease until the lease runs out; the orchestrator
 * then puts it back in the queue and a new agent runs it again (a backup commits once or not at all).
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ENV } from '../../lib/infra/env';
import { encodeKeyring } from '../../lib/repo/keyring';
import type { Repository } from '../../lib/repo/repository';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { runStarted } from '../common/run-started';
import { type Runtime, runtime } from '../common/runtime';

/** dist/zapas-worker.cjs beside dist/functions/agent/index.cjs, when the image has it. */
const WORKER_SCRIPT = join(__dirname, '..', '..', 'zapas-worker.cjs');

async function poolFor(repo: Repository): Promise<WorkerPool> {
  const pool = new WorkerPool(WORKER_SCRIPT, availableParallelism());
  pool.warmUp();
  pool.configure({ keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker });
  return pool;
}

function run(rt: Runtime, jobId: string) {
  return runStarted(rt, jobId, existsSync(WORKER_SCRIPT) ? poolFor : undefined);
}

async function main(): Promise<number> {
  const rt = runtime('agent');
  const jobId = process.env[ENV.agentJob];
  if (jobId) {
    const done = await run(rt, jobId);
    if (!done) {
      rt.log('agent-no-job', { job: jobId });
      return 2;
    }
    return done.state === 'succeeded' ? 0 : done.state === 'running' ? 2 : 1;
  }
  const port = Number(process.env.PORT);
  if (!port) {
    process.stderr.write(`zapas agent: set ${ENV.agentJob} (run one job) or PORT (serve /run)\n`);
    return 2;
  }
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') return void res.writeHead(200).end('ok');
    if (req.method !== 'POST' || req.url !== '/run') return void res.writeHead(404).end();
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
      if (body.length > 4096) req.destroy();
    });
    req.on('end', () => {
      let id: unknown;
      try {
        id = (JSON.parse(body) as { jobId?: unknown }).jobId;
      } catch {
        id = undefined;
      }
      if (typeof id !== 'string' || !/^j-[0-9a-f]{24}$/.test(id))
        return void res
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"error":"jobId: a job id"}');
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: id }));
      void run(rt, id).catch((err: unknown) =>
        rt.log('agent-failed', { job: id, error: (err as Error).message }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(port, r));
  rt.log('agent-listening', { port });
  await new Promise<void>((r) => process.once('SIGTERM', r));
  server.close();
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`zapas agent: ${(err as Error).message}\n`);
    process.exitCode = 2;
  },
);
