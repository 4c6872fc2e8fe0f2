import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkerPool } from '../../lib/repo/worker-pool';
import { makeTempDir } from '../support/temp';

/** A worker that runs one job at a time (as zapas workers do): sleeps as told and reports its thread id, or dies. */
const SCRIPT = `
const { parentPort, threadId } = require('node:worker_threads');
const queue = [];
let running = false;
const next = () => {
  const job = queue.shift();
  if (!job) return void (running = false);
  running = true;
  if (job.op === 'die') process.exit(3);
  setTimeout(() => {
    parentPort.postMessage({ jobId: job.jobId, kind: 'done', payload: threadId });
    next();
  }, job.ms);
};
parentPort.on('message', (job) => {
  queue.push(job);
  if (!running) next();
});
`;

async function pool(size: number): Promise<WorkerPool> {
  const script = join(await makeTempDir('zapas-pool-'), 'worker.js');
  await writeFile(script, SCRIPT);
  return new WorkerPool(script, size, {});
}

describe('WorkerPool', () => {
  it('gives jobs to workers as they free up, so one long job does not hold short ones back', async () => {
    const p = await pool(2);
    try {
      const long = p.run<number>({ op: 'sleep', ms: 400 });
      const short = Array.from({ length: 8 }, () => p.run<number>({ op: 'sleep', ms: 5 }));
      const longThread = await long;
      const threads = await Promise.all(short);
      // Handed out at once by count, half the short jobs would have waited behind the long one; held
      // back, at most one does (the one ready behind it).
      expect(threads.filter((t) => t === longThread).length).toBeLessThanOrEqual(1);
    } finally {
      await p.close();
    }
  });

  it('fails the jobs of a worker that dies and runs the rest on the others', async () => {
    const p = await pool(2);
    try {
      const dying = p.run({ op: 'die' });
      const err = await dying.catch((e: NodeJS.ErrnoException) => e);
      expect(String(err)).toMatch(/exited with code 3/);
      // No errno-style code: a crashed worker must fail the command, not pass for an unreadable file.
      expect((err as NodeJS.ErrnoException).code).toBeUndefined();
      const after = await Promise.all(Array.from({ length: 4 }, () => p.run<number>({ op: 'sleep', ms: 1 })));
      expect(new Set(after).size).toBe(1);
    } finally {
      await p.close();
    }
  });

  it('fails jobs still waiting when it is closed', async () => {
    const p = await pool(1);
    const jobs = Array.from({ length: 4 }, () => p.run({ op: 'sleep', ms: 200 }));
    const settled = Promise.allSettled(jobs);
    await p.close();
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
  });
});
