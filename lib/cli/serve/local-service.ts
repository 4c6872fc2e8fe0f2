/**
 * `zapas serve`: the whole service on one machine, from the same stage code as the cloud — the HTTP API on
 * loopback, schedules, the orchestrator's queue, jobs run in-process — over the embedded catalog (a file
 * in the state folder) and the configured repositories (a local folder by default).
 *
 * Shutdown is graceful: no new work starts, running jobs end (a snapshot is committed or not at all), then
 * the process exits. A restart puts jobs an earlier process left running back in the queue.
 */

import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { apiRoutes } from '../../api/routes';
import { EmbeddedCatalog } from '../../catalog/embedded-catalog';
import type { Job } from '../../catalog/jobs';
import { PasswordKeySlot, SCRYPT_DEFAULT_LOG_N } from '../../keys/password';
import { loadConfigFile } from '../../pipeline/config/load';
import type { ZapasConfig } from '../../pipeline/config/schema';
import { PoisonMessageError } from '../../pipeline/messages';
import {
  acceptMessage,
  LEASE_MS,
  previousSlot,
  requestBackup,
  requeueAbandoned,
  scheduleDue,
  startReady,
} from '../../pipeline/orchestrate';
import { purgeRepository } from '../../pipeline/purge';
import { LocalQueue } from '../../pipeline/queues/local-queue';
import { deadLetter } from '../../pipeline/queues/queue';
import { DependencyGuard } from '../../pipeline/resilience';
import { runJob } from '../../pipeline/run-job';
import { parseDuration, subtractDuration } from '../../policy/duration';
import { RepositoryNotFoundError } from '../../repo/errors';
import { encodeKeyring } from '../../repo/keyring';
import { Repository } from '../../repo/repository';
import { WorkerPool } from '../../repo/worker-pool';
import { openStorage } from '../../storage/open';

export interface ServiceOptions {
  configFile: string;
  /** Folder of the catalog file; default: `.zapas-state` beside the config. */
  stateDir?: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** How often schedules, the queue and queued jobs are looked at. */
  tickMs?: number;
  /** Create a configured folder repository that does not exist yet. */
  init?: boolean;
  /** Worker-thread script (dist/zapas-worker.cjs): backups use one thread per core, as the CLI does. */
  workerScript?: string;
  env?: NodeJS.ProcessEnv;
  log?: (line: string) => void;
}

export class LocalService {
  private readonly running = new Set<Promise<unknown>>();
  /** One guard per repository's storage: retries, and a circuit that opens while it is down. */
  private readonly guards = new Map<string, DependencyGuard>();
  /** Repositories being purged now. */
  private readonly purging = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private again = false;
  private stopping = false;
  readonly queue: LocalQueue;
  readonly deadLetters = new LocalQueue('orchestrate-dlq');

  private constructor(
    readonly config: ZapasConfig,
    readonly catalog: EmbeddedCatalog,
    private readonly baseDir: string,
    private readonly opts: ServiceOptions,
    private server?: Server,
  ) {
    this.queue = new LocalQueue('orchestrate', {
      maxReceives: 5,
      deadLetter: this.deadLetters,
      visibilitySeconds: 60,
    });
  }

  static async start(opts: ServiceOptions): Promise<LocalService> {
    const config = await loadConfigFile(opts.configFile);
    const baseDir = dirname(resolve(opts.configFile));
    const catalog = await EmbeddedCatalog.open(
      join(opts.stateDir ?? join(baseDir, '.zapas-state'), 'catalog.json'),
    );
    const service = new LocalService(config, catalog, baseDir, opts);
    for (const name of Object.keys(config.repositories))
      await service.openRepository(name, opts.init ?? false);
    // This catalog has one process: whatever an earlier one left running is retried.
    for (const id of Object.keys(config.sources))
      for (const job of await catalog.listJobs(id, { state: 'running' })) {
        await catalog.transition(job.id, 'running', 'queued', {
          error: 'the service stopped while it ran; retried',
        });
        service.log(`job ${job.id} (${id}) was left running by an earlier process: queued again`);
      }
    service.server = await listen(service, opts.host ?? '127.0.0.1', opts.port ?? 8720);
    service.timer = setInterval(() => void service.tick(), opts.tickMs ?? 5000);
    void service.tick();
    return service;
  }

  /** The address the API listens on. */
  get url(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  /** One pass: abandoned jobs back, schedule slots that came, queue messages, then start what may start. */
  tick(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (this.ticking) {
      // Work arrived during a pass (a request, a finished job): one more pass right after, not at the next tick.
      this.again = true;
      return this.ticking;
    }
    this.ticking = this.pass()
      .catch((err: unknown) => this.log(`tick failed: ${(err as Error).message}`))
      .finally(() => {
        this.ticking = undefined;
        if (this.again) {
          this.again = false;
          void this.tick();
        }
      });
    return this.ticking;
  }

  /** Stops taking work, waits for running jobs to end, closes the API. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.ticking;
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private async pass(): Promise<void> {
    const now = new Date();
    await requeueAbandoned(this.config, this.catalog, now);
    for (const job of await scheduleDue(this.config, this.catalog, now))
      this.log(`job ${job.id}: ${job.source} scheduled (${job.trigger.ref})`);
    for (const m of await this.queue.receive({ max: 10 })) {
      try {
        await acceptMessage(this.config, this.catalog, m, now);
        await this.queue.delete(m.receipt);
      } catch (err) {
        if (!(err instanceof PoisonMessageError)) throw err;
        await deadLetter(this.queue, this.deadLetters, m, err.message);
        this.log(`message ${m.id} to the dead-letter queue: ${err.message}`);
      }
    }
    if (this.stopping) return;
    await this.purgeDue(now);
    // A purge holds its repository exclusively: jobs start once it is over.
    if (this.purging.size > 0) return;
    for (const { job } of await startReady(this.config, this.catalog, `serve-${process.pid}`, now))
      this.run(job);
  }

  /** Retention on each repository once per purge slot, under a lease (one purge of a repository at a time). */
  private async purgeDue(now: Date): Promise<void> {
    const { schedule, grace } = this.config.purge;
    const slot = previousSlot(schedule, this.config.timezone, now);
    const graceMs = now.getTime() - subtractDuration(now, parseDuration(grace)).getTime();
    for (const name of Object.keys(this.config.repositories)) {
      // Prune needs the repository to itself: while a backup of it runs, the purge waits for a later tick.
      if (await this.busy(name)) continue;
      if (!(await this.catalog.claimScheduleSlot(`repository:${name}`, `purge ${schedule}`, slot))) continue;
      const owner = `purge-${process.pid}-${slot}`;
      if (!(await this.catalog.acquireLease(`purge:${name}`, owner, LEASE_MS, now))) continue;
      this.purging.add(name);
      const task = (async () => {
        try {
          const { repo } = await this.openRepository(name, false);
          const r = await purgeRepository({
            config: this.config,
            catalog: this.catalog,
            repo,
            repository: name,
            now,
            graceMs,
          });
          const removed = r.sources.reduce((n, x) => n + x.removed.length, 0);
          const held = r.sources.flatMap((x) =>
            x.heldPastMaximum.map((h) => `${x.source}/${h.id.slice(0, 8)} (${h.hold})`),
          );
          this.log(
            `purge of repository "${name}": ${removed} snapshot(s) forgotten, ${r.prune.marked.packs} pack(s) condemned, ${r.freedBytes} bytes freed${held.length ? `; held past their maximum: ${held.join(', ')}` : ''}`,
          );
        } catch (err) {
          this.log(`purge of repository "${name}" failed: ${(err as Error).message}`);
        } finally {
          await this.catalog.releaseLease(`purge:${name}`, owner);
          this.purging.delete(name);
        }
      })();
      this.running.add(task);
      void task.finally(() => {
        this.running.delete(task);
        void this.tick();
      });
    }
  }

  private async busy(repository: string): Promise<boolean> {
    for (const [id, source] of Object.entries(this.config.sources))
      if (
        source.repository === repository &&
        (await this.catalog.listJobs(id, { state: 'running', limit: 1 })).length > 0
      )
        return true;
    return false;
  }

  private run(job: Job): void {
    this.log(`job ${job.id}: ${job.source} started (attempt ${job.attempts})`);
    const task = runJob(
      {
        config: this.config,
        catalog: this.catalog,
        openRepository: (name) => this.openWithWorkers(name),
      },
      job,
    )
      .then(({ job: done }) =>
        this.log(
          `job ${done.id}: ${done.source} ${done.state}${done.snapshotId ? ` snapshot ${done.snapshotId.slice(0, 8)}` : ''}${done.error ? ` (${done.error})` : ''}`,
        ),
      )
      .finally(() => {
        this.running.delete(task);
        // What waited for this job may start now.
        void this.tick();
      });
    this.running.add(task);
  }

  /** A repository and, when the runtime has a worker script, a pool of one thread per core for the job. */
  private async openWithWorkers(
    name: string,
  ): Promise<{ repo: Repository; pool?: WorkerPool; close(): Promise<void> }> {
    let guard = this.guards.get(name);
    if (!guard) {
      guard = new DependencyGuard(`the storage of repository "${name}"`);
      this.guards.set(name, guard);
    }
    return guard.run(() => this.openWithPool(name));
  }

  private async openWithPool(
    name: string,
  ): Promise<{ repo: Repository; pool?: WorkerPool; close(): Promise<void> }> {
    if (!this.opts.workerScript) return this.openRepository(name, false);
    const pool = new WorkerPool(this.opts.workerScript, availableParallelism());
    try {
      pool.warmUp();
      const { repo } = await this.openRepository(name, false);
      pool.configure({ keyring: encodeKeyring(repo.keyring), chunker: repo.config.chunker });
      return { repo, pool, close: () => pool.close() };
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /** Opens a configured repository (creating a missing one with `init`). */
  async openRepository(name: string, init: boolean): Promise<{ repo: Repository; close(): Promise<void> }> {
    const r = this.config.repositories[name]!;
    const url = /^[a-z0-9]+:\/\//i.test(r.url) || isAbsolute(r.url) ? r.url : resolve(this.baseDir, r.url);
    const env = this.opts.env ?? process.env;
    const storage = openStorage(url, { ...(r.endpoint ? { s3Endpoint: r.endpoint } : {}), env });
    const password = await this.password(name);
    const logN = env.ZAPAS_KDF_LOG_N ? Number(env.ZAPAS_KDF_LOG_N) : SCRYPT_DEFAULT_LOG_N;
    const slot = new PasswordKeySlot(password, logN);
    try {
      return { repo: await Repository.open(storage, slot), close: async () => undefined };
    } catch (err) {
      if (!(err instanceof RepositoryNotFoundError) || !init) throw err;
      this.log(`repository "${name}": none at ${url}, creating it`);
      return { repo: await Repository.init(storage, slot), close: async () => undefined };
    }
  }

  private async password(name: string): Promise<string> {
    const r = this.config.repositories[name]!;
    const env = this.opts.env ?? process.env;
    if (r.passwordFile) {
      const file = isAbsolute(r.passwordFile) ? r.passwordFile : resolve(this.baseDir, r.passwordFile);
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`repository "${name}": cannot read its password file ${file} (${err.code})`);
      });
      return text.replace(/\r?\n$/, '');
    }
    if (env.ZAPAS_PASSWORD) return env.ZAPAS_PASSWORD;
    throw new Error(`repository "${name}" has no passwordFile and ZAPAS_PASSWORD is not set`);
  }

  /** Called by the API: a backup asked for over HTTP, once per idempotency key. */
  requestBackup(source: string, key: string): Promise<{ job: Job; created: boolean }> {
    return requestBackup(this.config, this.catalog, source, key).then((r) => {
      if (r.created) void this.tick();
      return r;
    });
  }

  get runningJobs(): number {
    return this.running.size;
  }

  private log(line: string): void {
    (this.opts.log ?? ((l) => process.stderr.write(`${new Date().toISOString()} ${l}\n`)))(line);
  }
}

async function listen(service: LocalService, host: string, port: number): Promise<Server> {
  const app = apiRoutes({
    config: service.config,
    catalog: service.catalog,
    requestBackup: (source, key) => service.requestBackup(source, key),
    running: () => service.runningJobs,
  });
  return new Promise((resolvePromise, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () =>
      resolvePromise(server as Server),
    ) as Server;
    server.once('error', reject);
  });
}
