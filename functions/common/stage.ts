/**
 * A stage function's handler, made with middy: the event of either cloud is normalised before the stage
 * sees it, the stage's result is shaped for the cloud that asked after, and a failure is logged as one
 * JSON line (never with a secret: messages of our errors name objects and fields, not values) before the
 * platform's retry takes over. The stage itself is a plain function of the runtime and the event.
 * Each invocation runs in a correlation scope (lib/pipeline/log-context.ts): a new id, or the one an HTTP
 * request brings in `X-Correlation-Id`; the messages of a batch each get their own (batch.ts).
 */
import middy from '@middy/core';
import {
  type Cloud,
  type NormalizedEvent,
  normalizeEvent,
  type StageResult,
  shapeResult,
} from '../../lib/pipeline/events/normalize';
import { processLogger } from '../../lib/pipeline/log';
import { isCorrelationId, newCorrelationId, withCorrelation } from '../../lib/pipeline/log-context';
import { type Runtime, runtime } from './runtime';

/** What the platform passes besides the event (Yandex gives the service account's IAM token here). */
export interface InvocationContext {
  awsRequestId?: string;
  requestId?: string;
  token?: { access_token: string };
  getRemainingTimeInMillis?: () => number;
}

export type Stage = (rt: Runtime, event: NormalizedEvent, context: InvocationContext) => Promise<StageResult>;

// biome-ignore lint/suspicious/noExplicitAny: middy types its context with aws-lambda's types, which this project does not install.
type PlatformContext = any;

interface Internal extends Record<string, unknown> {
  cloud?: Cloud;
}

/** The middleware: normalise in, shape out. */
function cloudEvents(): middy.MiddlewareObj<unknown, unknown, Error, PlatformContext, Internal> {
  return {
    before: (request) => {
      const e = normalizeEvent(request.event);
      request.internal.cloud = e.cloud;
      request.event = e;
    },
    after: (request) => {
      request.response = shapeResult(request.internal.cloud ?? 'aws', request.response as StageResult);
    },
  };
}

/** The middleware: a failed invocation is one log line with the stage's name, then rethrown. */
function logFailures(stage: string): middy.MiddlewareObj<unknown, unknown, Error, PlatformContext, Internal> {
  return {
    onError: (request) => {
      const err = request.error;
      processLogger().error(
        { event: 'invocation-failed', stage, error: err?.message ?? String(err) },
        'invocation-failed',
      );
    },
  };
}

/** The exported `handler` of functions/<name>. */
export function stageHandler(
  name: string,
  stage: Stage,
): (event: unknown, context?: unknown) => Promise<unknown> {
  const h = middy<unknown, unknown, Error, PlatformContext, Internal>()
    .use(logFailures(name))
    .use(cloudEvents())
    .handler((event, context) => {
      const e = event as NormalizedEvent;
      const run = () => stage(runtime(name), e, (context ?? {}) as unknown as InvocationContext);
      const asked = e.kind === 'http' ? e.headers['x-correlation-id'] : undefined;
      return isCorrelationId(asked) ? withCorrelation(asked, run) : run();
    });
  return (event, context) => withCorrelation(newCorrelationId(), () => h(event, context ?? {}), name);
}
