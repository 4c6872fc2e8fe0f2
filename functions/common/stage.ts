/**
 * A stage function's handler, made with middy: the event of either cloud is normalised before the stage
 * sees it, the stage's result is shaped for the cloud that asked after, and a failure is logged as one
 * JSON line (never with a secret: messages of our errors name objects and fields, not values) before the
 * platform's retry takes over. The stage itself is a plain function of the runtime and the event.
 */
import middy from '@middy/core';
import {
  type Cloud,
  type NormalizedEvent,
  normalizeEvent,
  type StageResult,
  shapeResult,
} from '../../lib/pipeline/events/normalize';
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
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), event: 'invocation-failed', stage, error: err?.message ?? String(err) })}\n`,
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
    .handler((event, context) =>
      stage(runtime(), event as NormalizedEvent, (context ?? {}) as unknown as InvocationContext),
    );
  return (event, context) => h(event, context ?? {});
}
