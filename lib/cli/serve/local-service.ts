/**
 * `zapas serve`: the whole service on one machine, from the same stage code as the cloud — the HTTP API on
 * loopback, schedules, the orchestrator's queue, jobs run in-process — over the embedded catalog (a
 * database in the state folder, which one serve holds at a time) and the configured repositories (a
 * local folder by default).
 *
 * Shutdown is graceful: no new work starts, running jobs end (a snapshot is committed or not at all), then
 * the process exits. A restart puts jobs an earlier process left running back in the queue.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { apiApp } from '../../api/app';
import { authConfigured, isLoopback, servedHosts } from '../../api/exposure';
import { apiLimits } from '../../api/limits';
import { openCatalogFolder } from '../../catalog/catalog-folder';
import type { EmbeddedCatalog } from '../../catalog/embedded-catalog';
import type { Job } from '../../catalog/jobs';
import { loadConfigFile } from '../../pipeline/config/load';
import type { ZapasConfig } from '../../pipeline/config/schema';
import { createLogger, type Logger } from '../../pipeline/log';
import { correlationIdOfBody, newCorrelationId, withCorrelation } from '../../pipeline/log-context';
import { PoisonMessageError } from '../../pipeline/messages';
import {
  acceptMessage,
  requestBackup,
  requeueAbandoned,
  scheduleDue,
  startReady,
} from '../../pipeline/orchestrate';
import { claimPurges, describePurge, purgeClaimed } from '../../pipeline/purge-due';
import { LocalQueue } from '../../pipeline/queues/local-queue';
import { deadLetter } from '../../pipeline/queues/queue';
import { RepositoryOpener } from '../../pipeline/repositories';
import { DependencyGuard } from '../../pipeline/resilience';
import { runJob } from '../../pipeline/run-job';
import { ServiceSecurity } from '../../pipeline/service-security';
import { parseDuration } from '../../policy/duration';
import { encodeKeyring } from '../../repo/keyring';
import type { Repository } from '../../repo/repository';
import { WorkerPool, type WorkerScript } from '../../repo/worker-pool';
import { UsageError } from '../errors';
import { lockStateFolder } from './state-lock';

export interface ServiceOptions {
  configFile: string;
  /** Folder of the catalog database; default: `.zapas-state` beside the config. */
  stateDir?: string;
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** How often schedules, the queue and queued jobs are looked at. */
  tickMs?: number;
  /** Create a configured folder repository that does not exist yet. */
  init?: boolean;
  /** Worker-thread script (dist/zapas-worker.cjs, or its code): backups use one thread per core, as the CLI does. */
  workerScript?: WorkerScript;
  env?: NodeJS.ProcessEnv;
  /** Where the service logs (lib/pipeline/log.ts); default: readable lines on stderr, level info. */
  logger?: Logger;
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
  private readonly repositories: RepositoryOpener;
  /** Tokens, lockouts, step-up, the audit trail and intrusion rules (lib/pipeline/service-security.ts). */
  readonly security: ServiceSecurity;

  private constructor(
    readonly config: ZapasConfig,
    readonly catalog: EmbeddedCatalog,
    /** Lets the state folder go (serve's lock on it). */
    private readonly unlock: () => void,
    /** The configuration file's folder. */
    readonly baseDir: string,
    private readonly opts: ServiceOptions,
    private server?: Server,
  ) {
    this.repositories = new RepositoryOpener(config, {
      baseDir,
      env: opts.env ?? process.env,
      log: (line) => this.log(line),
    });
    this.queue = new LocalQueue('orchestrate', {
      maxReceives: 5,
      deadLetter: this.deadLetters,
      visibilitySeconds: 60,
    });
    this.security = new ServiceSecurity({
      config,
      catalog,
      baseDir,
      repository: (name) => this.repositories.get(name),
      origin: 'serve',
      // On one machine the Notification Service reads serve's log: one warning line per alert.
      notify: {
        send: async (body) => {
          this.log(`security alert: ${body}`, 'warn');
          return 'logged';
        },
      },
      warn: (line) => this.log(line, 'warn'),
    });
  }

  static async start(options: ServiceOptions): Promise<LocalService> {
    const opts = {
      ...options,
      logger: options.logger ?? createLogger({ format: 'text', destination: process.stderr }),
    };
    const config = await loadConfigFile(opts.configFile);
    const host = opts.host ?? '127.0.0.1';
    checkExposure(config, host, opts.logger);
    const baseDir = dirname(resolve(opts.configFile));
    const stateDir = opts.stateDir ?? join(baseDir, '.zapas-state');
    const lock = lockStateFolder(stateDir);
    let catalog: EmbeddedCatalog | undefined;
    try {
      const { logger } = opts;
      catalog = await openCatalogFolder(stateDir, {
        keepFinishedJobs: parseDuration(config.catalog.keepFinishedJobs),
        log: (line) => logger.info(line),
      });
      const service = new LocalService(config, catalog, lock.release, baseDir, opts);
      for (const name of Object.keys(config.repositories))
        await service.openRepository(name, opts.init ?? false);
      // The lock makes this the folder's only serve: whatever an earlier one left running is retried.
      for (const id of Object.keys(config.sources))
        for (const job of await catalog.listJobs(id, { state: 'running' })) {
          await catalog.transition(job.id, 'running', 'queued', {
            error: 'the service stopped while it ran; retried',
          });
          service.log(`job ${job.id} (${id}) was left running by an earlier process: queued again`);
        }
      service.server = await listen(service, host, opts.port ?? 8720);
      service.timer = setInterval(() => void service.tick(), opts.tickMs ?? 5000);
      void service.tick();
      return service;
    } catch (err) {
      catalog?.close();
      lock.release();
      throw err;
    }
  }

  /** The address the API listens on. */
  get url(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** One pass: abandoned jobs back, schedule slots that came, queue messages, then start what may start. */
  tick(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    if (this.ticking) {
      // Work arrived during a pass (a request, a finished job): one more pass right after, not at the next tick.
      this.again = true;
      return this.ticking;
    }
    this.ticking = withCorrelation(newCorrelationId(), () =>
      this.pass().catch((err: unknown) => this.log(`tick failed: ${(err as Error).message}`, 'error')),
    ).finally(() => {
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
    this.catalog.close();
    this.unlock();
  }

  private async pass(): Promise<void> {
    const now = new Date();
    await requeueAbandoned(this.config, this.catalog, now);
    for (const job of await scheduleDue(this.config, this.catalog, now))
      withCorrelation(job.correlationId ?? newCorrelationId(), () =>
        this.log(`job ${job.id}: ${job.source} scheduled (${job.trigger.ref})`),
      );
    for (const m of await this.queue.receive({ max: 10 }))
      await withCorrelation(correlationIdOfBody(m.body), async () => {
        try {
          await acceptMessage(this.config, this.catalog, m, now);
          await this.queue.delete(m.receipt);
        } catch (err) {
          if (!(err instanceof PoisonMessageError)) throw err;
          await deadLetter(this.queue, this.deadLetters, m, err.message);
          this.log(`message ${m.id} to the dead-letter queue: ${err.message}`, 'warn');
        }
      });
    if (this.stopping) return;
    await this.purgeDue(now);
    // A purge holds its repository exclusively: jobs start once it is over.
    if (this.purging.size > 0) return;
    for (const { job } of await startReady(this.config, this.catalog, `serve-${process.pid}`, now))
      this.run(job);
  }

  /** Retention on each repository once per purge slot (lib/pipeline/purge-due.ts), in the background. */
  private async purgeDue(now: Date): Promise<void> {
    for (const name of await claimPurges(this.config, this.catalog, now)) {
      this.purging.add(name);
      const task = withCorrelation(newCorrelationId(), () =>
        purgeClaimed(
          {
            config: this.config,
            catalog: this.catalog,
            open: (n) => this.repositories.get(n),
            owner: `purge-${process.pid}`,
            record: this.security.record,
          },
          name,
          now,
        )
          .then((r) => r && this.log(describePurge(name, r)))
          .catch((err: unknown) =>
            this.log(`purge of repository "${name}" failed: ${(err as Error).message}`, 'error'),
          )
          .finally(() => this.purging.delete(name)),
      );
      this.running.add(task);
      void task.finally(() => {
        this.running.delete(task);
        void this.tick();
      });
    }
  }

  private run(job: Job): void {
    withCorrelation(job.correlationId ?? newCorrelationId(), () => this.runInScope(job));
  }

  private runInScope(job: Job): void {
    this.log(`job ${job.id}: ${job.source} started (attempt ${job.attempts})`);
    const task = runJob(
      {
        config: this.config,
        catalog: this.catalog,
        openRepository: (name) => this.openWithWorkers(name),
        record: this.security.record,
      },
      job,
    )
      .then(({ job: done }) =>
        this.log(
          `job ${done.id}: ${done.source} ${done.state}${done.snapshotId ? ` snapshot ${done.snapshotId.slice(0, 8)}` : ''}${done.error ? ` (${done.error})` : ''}`,
          done.state === 'failed' ? 'error' : 'info',
        ),
      )
      // The job ran; what failed is recording it (the audit trail's storage is down): said loudly.
      .catch((err: unknown) =>
        this.log(`job ${job.id}: ${job.source} ended unrecorded: ${(err as Error).message}`, 'error'),
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
      const env = this.opts.env ?? process.env;
      // How long an open circuit waits before one trial call (default 30 s): ZAPAS_BREAKER_HALF_OPEN_MS.
      const halfOpen = Number(env.ZAPAS_BREAKER_HALF_OPEN_MS);
      guard = new DependencyGuard(
        `the storage of repository "${name}"`,
        halfOpen > 0 ? { halfOpenAfterMs: halfOpen } : {},
      );
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
    return { repo: await this.repositories.get(name, init), close: async () => undefined };
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

  /** A line to the service's log (stderr). */
  log(line: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    this.opts.logger![level](line);
  }
}

/**
 * Without authentication the API is for this machine only: it listens on loopback, says so, and refuses
 * any other address (exit 2) rather than open unauthenticated backups to a network.
 */
function checkExposure(config: ZapasConfig, host: string, logger: Logger): void {
  if (authConfigured(config)) return;
  if (!isLoopback(host))
    throw new UsageError(
      `--host ${host}: the configuration has no auth section, so the API would take requests from anyone who reaches ${host} without a token; serve listens on loopback only (127.0.0.1, ::1) until auth is configured`,
    );
  logger.warn(
    `the API runs unauthenticated (no auth section in the configuration): loopback only, on ${host}`,
  );
}

async function listen(service: LocalService, host: string, port: number): Promise<Server> {
  const app = apiApp(
    {
      config: service.config,
      catalog: service.catalog,
      requestBackup: (source, key) => service.requestBackup(source, key),
      running: () => service.runningJobs,
      log: (line) => service.log(line, 'error'),
      security: service.security,
    },
    {
      addressOf: (c) => getConnInfo(c).remote.address ?? 'unknown',
      baseDir: service.baseDir,
      ...(service.security.verifier ? { verifier: service.security.verifier } : {}),
      hosts: servedHosts(host, apiLimits(service.config).allowedHosts),
    },
  );
  return new Promise((resolvePromise, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () =>
      resolvePromise(server as Server),
    ) as Server;
    server.once('error', reject);
  });
}
