/**
 * Reserved concurrency for what the HTTP API can start: the stage behind the API, and every stage a queue
 * of its sends feeds (a caller who floods the API floods those queues too). Reserving caps each of them,
 * so a flood that passes the stage's throttling cannot take the account's concurrency from the pipeline,
 * and keeps that much for them. The rest of the pipeline is started by schedules, the landing bucket and
 * its own queues, and keeps the account's unreserved pool.
 */
import { queueSpec, type StageSpec } from '../stages';
import { DeploymentError } from './errors';
import { DEFAULT_RESERVED_CONCURRENCY, type EnvironmentSettings } from './settings';

/** The stages among `stages` that an HTTP request can start: http-triggered, or fed by a queue one sends to. */
export function apiStartedStages(stages: readonly StageSpec[]): StageSpec[] {
  const http = stages.filter((s) => s.triggers.some((t) => t.kind === 'http'));
  const sent = new Set(http.flatMap((s) => s.grants.send.map((q) => queueSpec(q).name)));
  return stages.filter(
    (s) => http.includes(s) || s.triggers.some((t) => t.kind === 'queue' && sent.has(t.queue)),
  );
}

/** Reserved concurrency by stage name for the stages the API starts; `api.reservedConcurrency` overrides. */
export function reservedConcurrency(
  stages: readonly StageSpec[],
  settings: EnvironmentSettings,
): Record<string, number> {
  const started = apiStartedStages(stages).map((s) => s.name);
  const given = settings.api?.reservedConcurrency ?? {};
  for (const name of Object.keys(given))
    if (!started.includes(name as StageSpec['name']))
      throw new DeploymentError(
        `context.environments.${settings.name}.api.reservedConcurrency.${name}: the API does not start "${name}" (it starts: ${started.join(', ') || 'nothing'})`,
      );
  return Object.fromEntries(started.map((name) => [name, given[name] ?? DEFAULT_RESERVED_CONCURRENCY]));
}
