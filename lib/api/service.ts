/** What the API needs from the process that serves it (`zapas serve`, the api function). */
import type { Catalog } from '../catalog/catalog';
import type { Job } from '../catalog/jobs';
import type { ZapasConfig } from '../pipeline/config/schema';
import type { ApiLog } from './errors';

export interface ApiService {
  config: ZapasConfig;
  catalog: Catalog;
  /** Creates (once per key) the job for a backup of `source` asked for over HTTP. */
  requestBackup(source: string, key: string, reason?: string): Promise<{ job: Job; created: boolean }>;
  /** Jobs running in this process, for /v1/health. */
  running(): number;
  /** Where failures are told (with the correlation id a 500 answer carries); default stderr. */
  log?: ApiLog;
}
