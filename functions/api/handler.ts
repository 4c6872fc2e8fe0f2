/**
 * The api function: the HTTP API (/v1: health, sources, jobs, trigger a backup) behind API Gateway or a
 * Yandex API gateway; the routes and their validation are lib/api/routes.ts, the same as `zapas serve`.
 */
import { apiRoutes } from '../../lib/api/routes';
import type { NormalizedEvent, StageResult } from '../../lib/pipeline/events/normalize';
import { requestBackup } from '../../lib/pipeline/orchestrate';
import type { Runtime } from '../common/runtime';
import { stageHandler } from '../common/stage';

async function api(rt: Runtime, e: NormalizedEvent): Promise<StageResult> {
  if (e.kind !== 'http') throw new Error(`the api function takes HTTP requests, not ${e.kind} events`);
  const app = apiRoutes({
    config: rt.config,
    catalog: rt.catalog,
    requestBackup: (source, key) => requestBackup(rt.config, rt.catalog, source, key),
    running: () => 0,
  });
  const query = new URLSearchParams(e.query).toString();
  const res = await app.fetch(
    new Request(`http://zapas${e.path}${query ? `?${query}` : ''}`, {
      method: e.method,
      headers: e.headers,
      ...(e.method === 'GET' || e.method === 'HEAD' ? {} : { body: e.body }),
    }),
  );
  return { kind: 'http', status: res.status, body: await res.text() };
}

export const handler = stageHandler('api', api);
