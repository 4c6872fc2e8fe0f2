/**
 * Yandex Cloud's endpoints, runtime and limits that the deployment depends on, once, each with its source
 * (from Yandex Cloud's documentation and the yandex-cloud/yandex Terraform provider; docs/deploy-yandex.md lists them).
 */

/** The only region; every client and the document API live there. */
export const YANDEX_REGION = 'ru-central1';
export const DEFAULT_ZONE = 'ru-central1-a';

/** Object Storage's S3 endpoint (path- and virtual-host style, SigV4 with static keys). */
export const S3_ENDPOINT = 'https://storage.yandexcloud.net';
/** Message Queue: SQS's query protocol only (the queue adapter switches to it for this host). */
export const SQS_ENDPOINT = 'https://message-queue.api.cloud.yandex.net';

/** Cloud Functions' newest Node runtime (Node 22; there is no nodejs24). */
export const FUNCTION_RUNTIME = 'nodejs22';
/** scripts/build.mjs bundles each stage to index.cjs exporting `handler`. */
export const FUNCTION_ENTRYPOINT = 'index.handler';
/** Longer runs need the long-running functions preview (up to one hour). */
export const FUNCTION_TIMEOUT_LIMIT_SECONDS = 10 * 60;
/** All environment variables of a function together (names, values). */
export const FUNCTION_ENV_LIMIT_BYTES = 4 * 1024;
/** Function and container memory is set in steps of this size. */
export const MEMORY_STEP_MIB = 128;

export const QUEUE_VISIBILITY_LIMIT_SECONDS = 12 * 60 * 60;
export const QUEUE_RETENTION_MIN_SECONDS = 60;
export const QUEUE_RETENTION_LIMIT_SECONDS = 14 * 24 * 60 * 60;
/** A Message Queue trigger takes 1–1000 messages a batch and waits at most 60 s to fill one. */
export const TRIGGER_BATCH_LIMIT = 1000;
export const TRIGGER_CUTOFF_LIMIT_SECONDS = 60;

export const SECONDS_PER_DAY = 24 * 60 * 60;
/** A Serverless Container revision takes at most this much memory. */
export const CONTAINER_MEMORY_LIMIT_MIB = 8 * 1024;
