/**
 * The service's security parts, put together once for `zapas serve` and the cloud functions: the token
 * verifier (when `auth:` is configured), lockouts, TOTP step-up sealed with the key repository's key, the
 * audit trail (each event in the repository it concerns), and the intrusion detector fed by every event
 * a principal causes.
 */

import { AuditLog } from '../audit/audit-log';
import type { AuditEntry, AuditEvent, AuditSink } from '../audit/event';
import { type AlertQueue, IntrusionDetector } from '../audit/intrusion';
import { type ReadEvent, readAuditEvents } from '../audit/read-events';
import type { Catalog } from '../catalog/catalog';
import type { Repository } from '../repo/repository';
import { CatalogLockoutStore } from '../security/lockout-store';
import { TokenVerifier } from '../security/tokens';
import { TotpStepUp } from '../security/totp';
import { keyRepositoryOf } from '../security/totp-key-repository';
import type { ZapasConfig } from './config/schema';
import { currentCorrelationId, newCorrelationId } from './log-context';
import { RetryingCache } from './retrying-cache';

/** An event as the service's own code records it: where it is recorded and the correlation id are filled in. */
export type RecordedEntry = Omit<AuditEntry, 'origin' | 'correlationId'> & { correlationId?: string };
/** Appends an event to the audit trail (resolves once it is durable). */
export type AuditRecorder = (entry: RecordedEntry) => Promise<void>;

/** The principal of what the service does by its own policy: a schedule, retention. */
export function systemPrincipal(what: string): AuditEntry['principal'] {
  return { kind: 'system', subject: what, roles: [] };
}

export interface ServiceSecurityOptions {
  config: ZapasConfig;
  catalog: Catalog;
  /** The config file's folder (a JWKS file is read relative to it). */
  baseDir: string;
  /** Opens a configured repository (each is opened once here, again only after a failure). */
  repository(name: string): Promise<Repository>;
  /** `serve`, or the stage function's name: the `origin` of the events recorded. */
  origin: string;
  /** The platform Notification Service's queue, for intrusion alerts. */
  notify?: AlertQueue;
  /** Where a side effect that failed is told (an alert not sent, a lockout not stored). */
  warn?: (message: string) => void;
  now?: () => Date;
}

export class ServiceSecurity {
  /** Verifies bearer tokens; absent when the configuration has no `auth:` (serve then stays on loopback). */
  readonly verifier: TokenVerifier | undefined;
  readonly lockouts: CatalogLockoutStore;
  readonly detector: IntrusionDetector;
  /** Appends each event to the audit trail of the repository it concerns, then shows it to the detector. */
  readonly audit: AuditSink;
  private readonly repos = new RetryingCache<string, Repository>();
  private readonly stepUps = new RetryingCache<string, TotpStepUp>();

  constructor(private readonly opts: ServiceSecurityOptions) {
    const { config } = opts;
    this.verifier = config.auth ? TokenVerifier.fromSettings(config.auth, opts.baseDir) : undefined;
    this.lockouts = new CatalogLockoutStore(opts.catalog, opts.now ? { now: opts.now } : {});
    const trail = new RoutedAuditTrail(opts, (name) => this.repository(name));
    this.detector = new IntrusionDetector({
      ...(config.detection ? { config: config.detection } : {}),
      audit: trail,
      lockouts: this.lockouts,
      ...(opts.notify ? { notify: opts.notify } : {}),
      origin: opts.origin,
      onError: (err, alert, effect) =>
        opts.warn?.(`intrusion alert ${alert.rule}: could not ${effect}: ${err.message}`),
    });
    this.audit = {
      append: async (entry) => {
        const event = await trail.append(entry);
        // What the service does by its own policy (schedules, retention) is no principal's behaviour.
        if (event.principal.kind !== 'system') await this.detector.observe(event);
        return event;
      },
    };
  }

  /** Records an event from this face (`origin`), in the current request's or job's correlation. */
  readonly record: AuditRecorder = async (entry) => {
    await this.audit.append({
      ...entry,
      origin: this.opts.origin,
      correlationId: entry.correlationId ?? currentCorrelationId() ?? newCorrelationId(),
    });
  };

  /** The events of repository `name`'s audit trail (the key repository's by default), oldest first. */
  async *auditEvents(name?: string, since?: Date): AsyncIterable<ReadEvent> {
    const repository = name ?? keyRepositoryOf(this.opts.config);
    if (!Object.hasOwn(this.opts.config.repositories, repository))
      throw new RangeError(`no repository "${repository}" in the configuration`);
    yield* readAuditEvents(await this.repository(repository), since ? { since } : {});
  }

  /** TOTP step-up, sealed with the key repository's key (opened on first use). */
  stepUp(): Promise<TotpStepUp> {
    const name = keyRepositoryOf(this.opts.config);
    return this.stepUps.get(name, async () => {
      const repo = await this.repository(name);
      return new TotpStepUp({
        catalog: this.opts.catalog,
        keyring: repo.keyring,
        lockouts: this.lockouts,
        ...(this.opts.now ? { now: this.opts.now } : {}),
      });
    });
  }

  private repository(name: string): Promise<Repository> {
    return this.repos.get(name, () => this.opts.repository(name));
  }
}

/**
 * The audit trails of the configured repositories as one sink: an event about a source goes to its
 * repository's trail, one about a repository to that one's, any other (a refused token, a second factor
 * enrolled) to the key repository's. Each trail's head is kept in the catalog too.
 */
class RoutedAuditTrail implements AuditSink {
  private readonly logs = new RetryingCache<string, AuditLog>();

  constructor(
    private readonly opts: ServiceSecurityOptions,
    private readonly repository: (name: string) => Promise<Repository>,
  ) {}

  async append(entry: AuditEntry): Promise<AuditEvent> {
    const log = await this.logOf(this.repositoryOf(entry));
    return log.append(entry);
  }

  private repositoryOf(entry: AuditEntry): string {
    const { config } = this.opts;
    const { repository, source } = entry.target;
    if (repository !== undefined && Object.hasOwn(config.repositories, repository)) return repository;
    if (source !== undefined && Object.hasOwn(config.sources, source))
      return config.sources[source]!.repository;
    return keyRepositoryOf(config);
  }

  private logOf(name: string): Promise<AuditLog> {
    return this.logs.get(name, async () => {
      const repo = await this.repository(name);
      return new AuditLog(repo, {
        catalog: this.opts.catalog,
        ...(this.opts.now ? { now: this.opts.now } : {}),
      });
    });
  }
}
