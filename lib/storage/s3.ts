import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  InvalidObjectNameError,
  ObjectExistsError,
  ObjectNotFoundError,
  ObjectTruncatedError,
  redactUrlCredentials,
  StorageError,
  StorageUnreachableError,
} from './errors';
import type { ByteRange, ObjectInfo, PutData, PutOptions, Storage } from './storage';

const MIB = 1024 * 1024;
/** Bodies larger than this go through a multipart upload, so one lost connection costs a part, not the pack. */
export const MULTIPART_THRESHOLD_BYTES = 16 * MIB;
/** Part size of multipart uploads (S3's minimum is 5 MiB for all but the last part). */
export const MULTIPART_PART_BYTES = 8 * MIB;
/** Parts of one multipart upload in flight at once. */
export const MULTIPART_QUEUE_SIZE = 4;
/** Requests in flight at once per adapter, unless the options say otherwise. */
export const DEFAULT_MAX_CONCURRENCY = 16;
/** Attempts per request (the first one plus retries), in the SDK's "standard" retry mode. */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Time allowed to open a TCP (and TLS) connection. */
export const DEFAULT_CONNECTION_TIMEOUT_MS = 5_000;
/** A connection that moves no bytes for this long is dropped and the request retried. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
/** Region when neither the options nor AWS_REGION / AWS_DEFAULT_REGION give one. */
export const DEFAULT_REGION = 'us-east-1';

/**
 * Error codes of a connection that could not be made or kept (the same set the SDK's retry strategy
 * treats as transient network errors): once retries are spent, the storage is unreachable.
 */
const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Options of S3Storage. Only `bucket` is required; the rest have defaults suitable for AWS and s3rver. */
export interface S3StorageOptions {
  readonly bucket: string;
  /** Key prefix of the repository inside the bucket ('' for the bucket root); slashes at the ends are ignored. */
  readonly prefix?: string;
  /** Endpoint URL of an S3-compatible service (Yandex Object Storage, LocalStack, s3rver); AWS when absent. */
  readonly endpoint?: string;
  /** Signing region; defaults to AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1. */
  readonly region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); defaults to true when an endpoint is given. */
  readonly forcePathStyle?: boolean;
  /** Static credentials or a provider; the SDK's default chain (AWS_ACCESS_KEY_ID, profiles, IMDS…) when absent. */
  readonly credentials?: S3ClientConfig['credentials'];
  /** Requests in flight at once (default 16); a multipart upload counts as its parallel parts. */
  readonly maxConcurrency?: number;
  /** A ready client (e.g. from aws-sdk-client-mock); the options below and above that configure a client are then unused. */
  readonly client?: S3Client;
  /** Attempts per request, retries included (default 5). */
  readonly maxAttempts?: number;
  /** TCP connect timeout (default 5 s). */
  readonly connectionTimeoutMs?: number;
  /** Idle timeout of a request's connection (default 120 s). */
  readonly requestTimeoutMs?: number;
  /** Replaces the HTTP layer under the SDK's middleware (retries, signing stay real): for tests. */
  readonly requestHandler?: S3ClientConfig['requestHandler'];
}

/**
 * Put options S3 adds: a retention under Object Lock (the bucket must have Object Lock enabled), so the
 * object cannot be deleted or overwritten until then (audit events, lib/audit/audit-log.ts).
 */
export interface S3PutOptions extends PutOptions {
  readonly retention?: { readonly mode: 'GOVERNANCE' | 'COMPLIANCE'; readonly until: Date };
}

/**
 * The Storage port on an S3 bucket (any S3-compatible endpoint). Object `name` is stored under key
 * `<prefix>/<name>`. Every request passes a semaphore so a pipeline cannot open more connections
 * than `maxConcurrency`, and every SDK error is mapped to the storage error hierarchy.
 */
export class S3Storage implements Storage {
  readonly bucket: string;
  /** Normalised key prefix, without slashes at either end ('' for the bucket root). */
  readonly prefix: string;
  /** Endpoint URL with any credentials redacted, or undefined for AWS. */
  readonly endpoint: string | undefined;
  readonly location: string;
  readonly client: S3Client;
  /** Packs written at once: each 16 MiB upload in flight is a pack held in memory. */
  readonly writeParallelism = 3;
  private readonly keyPrefix: string;
  private readonly ownsClient: boolean;
  private readonly semaphore: Semaphore;
  private readonly maxConcurrency: number;
  private readonly target: string;

  /** Builds the adapter; creates an S3Client from the options unless one is injected. */
  constructor(opts: S3StorageOptions) {
    if (opts.bucket === '') throw new StorageError('S3Storage needs a bucket name');
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.endpoint = opts.endpoint === undefined ? undefined : redactUrlCredentials(opts.endpoint);
    const base = `s3://${this.bucket}${this.prefix === '' ? '' : `/${this.prefix}`}`;
    this.location = this.endpoint === undefined ? base : `${base} (endpoint ${this.endpoint})`;
    if (this.prefix !== '') InvalidObjectNameError.assertName(this.prefix, this.location);
    this.keyPrefix = this.prefix === '' ? '' : `${this.prefix}/`;

    this.maxConcurrency = opts.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    if (!Number.isSafeInteger(this.maxConcurrency) || this.maxConcurrency < 1) {
      throw new StorageError(`maxConcurrency must be a positive integer, got ${opts.maxConcurrency}`);
    }
    this.semaphore = new Semaphore(this.maxConcurrency);

    const region = opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? DEFAULT_REGION;
    this.target =
      this.endpoint !== undefined
        ? `endpoint ${this.endpoint}`
        : opts.client !== undefined
          ? 'the S3 endpoint of the given client'
          : `AWS S3 in ${region}`;
    this.ownsClient = opts.client === undefined;
    this.client = opts.client ?? buildClient(opts, region);
  }

  /**
   * PutObject, or a multipart Upload above MULTIPART_THRESHOLD_BYTES. ifAbsent sends
   * `If-None-Match: *` (S3 answers 412 if the key exists) and checks with HeadObject first, because
   * s3rver ignores that header and older S3-compatible deployments may too (CLOUDS.md). Only where the
   * service honours the header (AWS S3; Yandex documents it) is put-if-absent atomic.
   */
  async put(name: string, parts: PutData, opts: S3PutOptions = {}): Promise<void> {
    const data = Array.isArray(parts) ? Buffer.concat(parts as Uint8Array[]) : (parts as Uint8Array);
    const Key = this.keyOf(name);
    if (opts.ifAbsent && (await this.head(name)) !== undefined) {
      throw new ObjectExistsError(name, this.location);
    }
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key,
      Body: data,
      ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
      ...(opts.retention
        ? { ObjectLockMode: opts.retention.mode, ObjectLockRetainUntilDate: opts.retention.until }
        : {}),
    };
    const multipart = data.byteLength > MULTIPART_THRESHOLD_BYTES;
    try {
      if (multipart) {
        await this.multipartPut(input);
      } else {
        await this.limited(1, () => this.client.send(new PutObjectCommand(input)));
      }
    } catch (error) {
      if (opts.ifAbsent && isPreconditionFailed(error)) {
        throw new ObjectExistsError(name, this.location, { cause: error });
      }
      throw this.mapError(error, multipart ? 'multipart upload' : 'PutObject', name);
    }
  }

  /** GetObject, with `Range: bytes=a-b` for a range; the body is read inside the concurrency slot. */
  async get(name: string, range?: ByteRange): Promise<Buffer> {
    const Key = this.keyOf(name);
    if (range !== undefined) {
      assertRange(range, name, this.location);
      // "bytes=a-(a-1)" is not a valid range, so an empty read is a HeadObject.
      if (range.length === 0) return this.emptyRead(name, range.offset);
    }
    const Range =
      range === undefined ? undefined : `bytes=${range.offset}-${range.offset + range.length - 1}`;
    try {
      return await this.limited(1, async () => {
        const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }));
        const bytes = out.Body === undefined ? new Uint8Array(0) : await out.Body.transformToByteArray();
        const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (range !== undefined && body.length !== range.length) {
          throw new ObjectTruncatedError(
            name,
            this.location,
            `wanted bytes ${Range?.slice('bytes='.length)} but got ${body.length} (Content-Range ${out.ContentRange})`,
          );
        }
        // A connection cut mid-body can end the stream early without an error on some paths.
        if (range === undefined && out.ContentLength !== undefined && body.length !== out.ContentLength) {
          throw new ObjectTruncatedError(
            name,
            this.location,
            `got ${body.length} of ${out.ContentLength} bytes`,
          );
        }
        return body;
      });
    } catch (error) {
      if (isNoSuchKey(error)) throw new ObjectNotFoundError(name, this.location, { cause: error });
      if (range !== undefined && isInvalidRange(error)) {
        throw new ObjectTruncatedError(name, this.location, `range ${Range} is past its end`, {
          cause: error,
        });
      }
      throw this.mapError(error, 'GetObject', name);
    }
  }

  /**
   * HeadObject. Note: without s3:ListBucket permission S3 answers 403 instead of 404 for a missing
   * key; that surfaces as a StorageError (access denied), not as "absent".
   */
  async head(name: string): Promise<ObjectInfo | undefined> {
    const Key = this.keyOf(name);
    try {
      const out = await this.limited(1, () =>
        this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key })),
      );
      return { name, size: out.ContentLength ?? 0 };
    } catch (error) {
      if (isNoSuchKey(error)) return undefined;
      throw this.mapError(error, 'HeadObject', name);
    }
  }

  /**
   * ListObjectsV2 page by page (1000 keys each) following continuation tokens; the semaphore is held
   * per page, not while the consumer works on it. Keys ending in '/' are folder markers some consoles
   * create, not objects.
   */
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    InvalidObjectNameError.assertPrefix(prefix, this.location);
    let ContinuationToken: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.limited(1, () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: this.keyPrefix + prefix,
              ContinuationToken,
            }),
          ),
        );
      } catch (error) {
        throw this.mapError(error, 'ListObjectsV2', `${prefix}*`);
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key;
        if (key === undefined || !key.startsWith(this.keyPrefix) || key.endsWith('/')) continue;
        yield { name: key.slice(this.keyPrefix.length), size: object.Size ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
  }

  /** DeleteObject; S3 already treats a missing key as success, and a 404 from a look-alike is too. */
  async delete(name: string): Promise<void> {
    const Key = this.keyOf(name);
    try {
      await this.limited(1, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key })));
    } catch (error) {
      if (isNoSuchKey(error)) return;
      throw this.mapError(error, 'DeleteObject', name);
    }
  }

  /** Closes the HTTP connections of a client this adapter built; an injected client is the caller's to close. */
  destroy(): void {
    if (this.ownsClient) this.client.destroy();
  }

  /**
   * A multipart upload holds as many semaphore slots as parts it sends at once, so the limit counts
   * connections, not calls. lib-storage passes IfNoneMatch on to CompleteMultipartUpload, and aborts
   * the upload (deleting uploaded parts) when it fails.
   */
  private async multipartPut(params: PutObjectCommandInput): Promise<void> {
    const queueSize = Math.min(MULTIPART_QUEUE_SIZE, this.maxConcurrency);
    await this.limited(queueSize, async () => {
      const upload = new Upload({
        client: this.client,
        params,
        partSize: MULTIPART_PART_BYTES,
        queueSize,
        leavePartsOnError: false,
      });
      await upload.done();
    });
  }

  private async emptyRead(name: string, offset: number): Promise<Buffer> {
    const info = await this.head(name);
    if (info === undefined) throw new ObjectNotFoundError(name, this.location);
    return ObjectTruncatedError.emptyReadAt(name, this.location, offset, info.size);
  }

  private async limited<T>(weight: number, run: () => Promise<T>): Promise<T> {
    const release = await this.semaphore.acquire(weight);
    try {
      return await run();
    } finally {
      release();
    }
  }

  private keyOf(name: string): string {
    InvalidObjectNameError.assertName(name, this.location);
    return this.keyPrefix + name;
  }

  /**
   * Network failures that survived the SDK's retries become StorageUnreachableError naming the
   * endpoint and bucket; anything else a StorageError naming the operation and object. Messages use
   * only the error's code and the service's message, never request headers (which carry signatures).
   */
  private mapError(error: unknown, operation: string, name: string): StorageError {
    if (error instanceof StorageError) return error;
    if (isNetworkError(error)) {
      const attempts = sdkMetadata(error)?.attempts;
      const tries = attempts === undefined ? '' : ` after ${attempts} attempt${attempts === 1 ? '' : 's'}`;
      return new StorageUnreachableError(
        `cannot reach ${this.target} for bucket ${this.bucket} (${this.location})${tries}: ${describe(error)}`,
        { cause: error },
      );
    }
    const status = sdkMetadata(error)?.httpStatusCode;
    const code = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    return new StorageError(
      `S3 ${operation} of ${name} in ${this.location} failed: ${code}${status === undefined ? '' : ` (HTTP ${status})`}: ${message}`,
      { cause: error },
    );
  }
}

function buildClient(opts: S3StorageOptions, region: string): S3Client {
  const config: S3ClientConfig = {
    region,
    forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
    // Checksums only where S3 requires them: s3rver (and other look-alikes) reject the aws-chunked
    // bodies the SDK's default flexible checksums produce (CLOUDS.md). The repository format verifies
    // every blob's hash on read.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // "standard": exponential backoff with full jitter for throttling (503 SlowDown), 5xx and
    // connection errors, with a client-wide retry budget.
    retryMode: 'standard',
    maxAttempts: opts.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    requestHandler:
      opts.requestHandler ??
      new NodeHttpHandler({
        connectionTimeout: opts.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
        // In @smithy/node-http-handler 4.x `requestTimeout` limits a request's total duration (and
        // only warns unless throwOnRequestTimeout); `socketTimeout` is the idle timeout we want: a
        // stalled connection fails, a slow but moving 16 MiB transfer does not.
        socketTimeout: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      }),
  };
  // Only set when given: an explicit undefined would hide the SDK's defaults.
  if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
  if (opts.credentials !== undefined) config.credentials = opts.credentials;
  return new S3Client(config);
}

/** FIFO counting semaphore whose acquirers may take several permits at once. */
class Semaphore {
  private available: number;
  private readonly waiting: { weight: number; grant: () => void }[] = [];

  constructor(private readonly capacity: number) {
    this.available = capacity;
  }

  /** Resolves with a release function once `weight` permits are free; first come, first served. */
  async acquire(weight: number): Promise<() => void> {
    const permits = Math.min(weight, this.capacity);
    if (this.waiting.length === 0 && this.available >= permits) {
      this.available -= permits;
    } else {
      await new Promise<void>((grant) => this.waiting.push({ weight: permits, grant }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(permits);
    };
  }

  private release(permits: number): void {
    this.available += permits;
    let next = this.waiting[0];
    while (next !== undefined && this.available >= next.weight) {
      this.waiting.shift();
      this.available -= next.weight;
      next.grant();
      next = this.waiting[0];
    }
  }
}

function assertRange(range: ByteRange, name: string, location: string): void {
  if (!Number.isSafeInteger(range.offset) || range.offset < 0) {
    throw new StorageError(`bad range for ${name} in ${location}: offset ${range.offset}`);
  }
  if (!Number.isSafeInteger(range.length) || range.length < 0) {
    throw new StorageError(`bad range for ${name} in ${location}: length ${range.length}`);
  }
}

interface SdkMetadata {
  readonly httpStatusCode?: number;
  readonly attempts?: number;
}

function sdkMetadata(error: unknown): SdkMetadata | undefined {
  if (typeof error !== 'object' || error === null || !('$metadata' in error)) return undefined;
  const metadata = error.$metadata;
  return typeof metadata === 'object' && metadata !== null ? (metadata as SdkMetadata) : undefined;
}

function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** NoSuchKey (GetObject), NotFound (HeadObject has no body, so only the status); not NoSuchBucket. */
function isNoSuchKey(error: unknown): boolean {
  const name = errorName(error);
  if (name === 'NoSuchKey' || name === 'NotFound') return true;
  return sdkMetadata(error)?.httpStatusCode === 404 && name !== 'NoSuchBucket';
}

function isPreconditionFailed(error: unknown): boolean {
  return errorName(error) === 'PreconditionFailed' || sdkMetadata(error)?.httpStatusCode === 412;
}

function isInvalidRange(error: unknown): boolean {
  return errorName(error) === 'InvalidRange' || sdkMetadata(error)?.httpStatusCode === 416;
}

/**
 * A connection-level failure: a Node error code such as ECONNREFUSED, or the HTTP handler's
 * TimeoutError, possibly inside `cause` or an AggregateError (Node's happy-eyeballs connect).
 */
function isNetworkError(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 3) return false;
  if (networkCode(error) !== undefined) return true;
  if ('name' in error && error.name === 'TimeoutError') return true;
  if ('errors' in error && Array.isArray(error.errors)) {
    if (error.errors.some((inner: unknown) => isNetworkError(inner, depth + 1))) return true;
  }
  return 'cause' in error && isNetworkError(error.cause, depth + 1);
}

/**
 * The network error code of an error: its `code`, or else a code in its message. The fallback is
 * needed because the SDK's retry middleware re-wraps anything that is not `instanceof Error` in its
 * own realm as `new Error("AWS SDK error wrapper for Error: connect ECONNREFUSED …")`, dropping
 * `code`; Node's socket errors are from another realm whenever the SDK runs in a vm context (jest).
 */
function networkCode(error: object): string | undefined {
  if ('code' in error && typeof error.code === 'string') {
    return NETWORK_ERROR_CODES.has(error.code) ? error.code : undefined;
  }
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  return message.match(/\bE[A-Z_]+\b/g)?.find((token) => NETWORK_ERROR_CODES.has(token));
}

function describe(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? networkCode(error) : undefined;
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined) return message.includes(code) ? message : `${code} (${message})`;
  return error instanceof Error ? `${error.name}: ${message}` : message;
}
