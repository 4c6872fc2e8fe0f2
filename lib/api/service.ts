/** What the API needs from the process that serves it (`zapas serve`, the api function). */

import type { ReadEvent } from '../audit/read-events';
import type { Catalog } from '../catalog/catalog';
import type { Job } from '../catalog/jobs';
import type { ZapasConfig } from '../pipeline/config/schema';
import type { AuditRecorder } from '../pipeline/service-security';
import type { LockoutStore } from '../security/lockout';
import type { TotpStepUp } from '../security/totp';
import type { ApiLog } from './errors';

/**
 * The security parts the API uses (lib/pipeline/service-security.ts makes them): without them nothing is
 * recorded and an action that needs a second factor is refused.
 */
export interface ApiSecurity {
  /** Appends an event to the audit trail: every refusal, and every action that is not a metadata read. */
  record: AuditRecorder;
  lockouts: LockoutStore;
  stepUp(): Promise<TotpStepUp>;
  /** The events of a repository's audit trail (the key repository's when `repository` is absent). */
  auditEvents(repository?: string, since?: Date): AsyncIterable<ReadEvent>;
}

export interface ApiService {
  config: ZapasConfig;
  catalog: Catalog;
  /** Creates (once per key) the job for a backup of `source` asked for over HTTP. */
  requestBackup(source: string, key: string, reason?: string): Promise<{ job: Job; created: boolean }>;
  /** Jobs running in this process, for /v1/health. */
  running(): number;
  /** Where failures are told (with the correlation id a 500 answer carries); default stderr. */
  log?: ApiLog;
  security?: ApiSecurity;
}
