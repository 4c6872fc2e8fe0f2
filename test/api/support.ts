import type { Hono } from 'hono';
import type { ApiProtections } from '../../lib/api/app';
import { apiApp } from '../../lib/api/app';
import type { ApiService } from '../../lib/api/service';
import type { Catalog } from '../../lib/catalog/catalog';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { configSchema, type ZapasConfigInput } from '../../lib/pipeline/config/schema';
import { requestBackup } from '../../lib/pipeline/orchestrate';
import { ServiceSecurity } from '../../lib/pipeline/service-security';
import type { Repository } from '../../lib/repo/repository';
import { makeTempRepo } from '../support/repo';

/** Two sources, `saves` (game content) and `payments` (payment data). */
export function testConfig(api?: ZapasConfigInput['api'], extra: Partial<ZapasConfigInput> = {}) {
  return configSchema.parse({
    version: 1,
    repositories: { main: { url: './repo' } },
    sources: {
      saves: { type: 'files', paths: ['./saves'], repository: 'main', dataClass: 'game-content' },
      payments: {
        type: 'files',
        paths: ['./payments'],
        repository: 'main',
        dataClass: 'payment',
        retention: { minimum: '5y' },
      },
    },
    ...(api ? { api } : {}),
    ...extra,
  });
}

export interface TestApi {
  app: Hono;
  catalog: Catalog;
  logged: string[];
  security?: ServiceSecurity;
  /** The repository the security parts write to (with `security`). */
  securityRepo?: Repository;
}

/** The API as `zapas serve` composes it, over an in-memory catalog, answering to host `zapas.test`. */
export async function testApi(
  opts: {
    api?: ZapasConfigInput['api'];
    /** Other sections of the configuration (auth, access). */
    extra?: Record<string, unknown>;
    catalog?: Catalog;
    protections?: Partial<ApiProtections>;
    /** The security parts over a temporary repository `main` (audit trail, step-up, lockouts). */
    security?: boolean;
  } = {},
): Promise<TestApi> {
  const config = testConfig(opts.api, opts.extra as Partial<ZapasConfigInput>);
  const catalog = opts.catalog ?? (await EmbeddedCatalog.open());
  const logged: string[] = [];
  const svc: ApiService = {
    config,
    catalog,
    requestBackup: (source, key) => requestBackup(config, catalog, source, key),
    running: () => 0,
    log: (line) => logged.push(line),
  };
  let security: ServiceSecurity | undefined;
  let securityRepo: Repository | undefined;
  if (opts.security) {
    const { repo } = await makeTempRepo();
    securityRepo = repo;
    security = new ServiceSecurity({
      config,
      catalog,
      baseDir: process.cwd(),
      repository: async () => repo,
      origin: 'serve',
    });
    svc.security = security;
  }
  const app = apiApp(svc, {
    addressOf: (c) => c.req.header('x-test-client') ?? 'one client',
    hosts: new Set(['zapas.test']),
    ...(security?.verifier ? { verifier: security.verifier } : {}),
    ...opts.protections,
  });
  return { app, catalog, logged, ...(security && securityRepo ? { security, securityRepo } : {}) };
}

export const BASE = 'http://zapas.test';
