/**
 * A second process on an embedded catalog file, for test/catalog/catalog-processes.test.ts (bundled by
 * scripts/bundle-script.js). Commands:
 *   write FILE              changes until killed, each reported on stdout ("<i>\n") once its call returned
 *   race FILE WORKER KEYS   over KEYS shared keys: create, start, claim a slot, take a lease, set its
 *                           field of the source's state (WORKER a, b or c); prints what it won as JSON
 *   hold FILE MS            holds the database's write lock MS milliseconds ("locked\n" once it has it)
 */
import { writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { type NewJob, StaleStateError } from '../../lib/catalog/jobs';

const spec = (key: string): NewJob => ({
  kind: 'backup',
  source: 'saves',
  trigger: { kind: 'message', ref: key },
  priority: 5,
  idempotencyKey: key,
});

async function write(file: string): Promise<void> {
  const catalog = await EmbeddedCatalog.open(file);
  for (let i = 0; ; i++) {
    const { job } = await catalog.createJob(spec(`w-${i}`));
    await catalog.transition(job.id, 'queued', 'running', { worker: `w-${i}` });
    await catalog.updateSourceState('saves', { lastJobId: job.id });
    // Synchronous: the line is out before the next change starts.
    writeSync(1, `${i}\n`);
  }
}

/** Each racer writes its own field of the source's state: a lost update would drop the other's. */
const FIELD_OF: Record<string, 'lastSnapshotId' | 'lastError' | 'lastVerifyDetail'> = {
  a: 'lastSnapshotId',
  b: 'lastError',
  c: 'lastVerifyDetail',
};

async function race(file: string, worker: string, keys: number): Promise<void> {
  const catalog = await EmbeddedCatalog.open(file);
  const won = {
    created: [] as string[],
    started: [] as string[],
    slots: [] as string[],
    leases: [] as string[],
  };
  for (let i = 0; i < keys; i++) {
    const key = `k-${i}`;
    const { job, created } = await catalog.createJob(spec(key));
    if (created) won.created.push(key);
    try {
      await catalog.transition(job.id, 'queued', 'running', { worker });
      won.started.push(key);
    } catch (err) {
      if (!(err instanceof StaleStateError)) throw err;
    }
    if (await catalog.claimScheduleSlot('saves', '* * * * *', `slot-${String(i).padStart(4, '0')}`))
      won.slots.push(key);
    if (await catalog.acquireLease(`lease-${i}`, worker, 3_600_000)) won.leases.push(key);
    await catalog.updateSourceState('saves', { [FIELD_OF[worker]!]: key });
  }
  catalog.close();
  writeSync(1, `${JSON.stringify(won)}\n`);
}

function hold(file: string, ms: number): void {
  const db = new DatabaseSync(file);
  db.exec('BEGIN IMMEDIATE');
  writeSync(1, 'locked\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  db.exec('COMMIT');
  db.close();
}

const [command, file, a, b] = process.argv.slice(2);
if (command === 'write') void write(file!);
else if (command === 'race') void race(file!, a!, Number(b));
else if (command === 'hold') hold(file!, Number(a));
else throw new Error(`unknown command ${command}`);
