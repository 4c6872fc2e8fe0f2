import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { redactUrlCredentials, StorageUrlError } from './errors';
import { FsStorage } from './fs';
import type * as S3Module from './s3';
import type { Storage } from './storage';

/** Where a repository URL points, before anything is opened. */
export type StorageTarget =
  | { readonly kind: 'fs'; readonly root: string }
  | {
      readonly kind: 's3';
      readonly bucket: string;
      readonly prefix: string;
      readonly endpoint: string | undefined;
    };

/** What openStorage needs besides the URL. */
export interface OpenStorageOptions {
  /** S3 endpoint URL (e.g. from `--s3-endpoint`); wins over ZAPAS_S3_ENDPOINT. */
  readonly s3Endpoint?: string;
  /** Environment to read ZAPAS_S3_ENDPOINT, AWS_REGION and AWS_* credentials from; process.env by default. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Any `scheme://`; a string without one is a folder path (so `backups:2024` is a folder, too). */
const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;
/**
 * S3's bucket naming rules, loosely: 3–63 lowercase letters, digits, dots and hyphens, starting and
 * ending with a letter or digit. Checked here so a typo fails before the first request does.
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses a repository URL: a folder path, `file:///absolute/path`, or `s3://bucket[/prefix]`
 * (endpoint from `opts.s3Endpoint`, then ZAPAS_S3_ENDPOINT). Throws StorageUrlError for anything else.
 */
export function parseStorageUrl(url: string, opts: OpenStorageOptions = {}): StorageTarget {
  const env = opts.env ?? process.env;
  if (url.trim() === '') throw new StorageUrlError(url, 'the repository URL is empty');
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'fs', root: path.resolve(url) };
  if (scheme === 'file') return { kind: 'fs', root: parseFileUrl(url) };
  if (scheme === 's3') {
    const endpoint = opts.s3Endpoint ?? nonEmpty(env.ZAPAS_S3_ENDPOINT);
    return {
      kind: 's3',
      ...parseS3Url(url),
      endpoint: endpoint === undefined ? undefined : checkEndpoint(url, endpoint),
    };
  }
  throw new StorageUrlError(url, `unsupported scheme ${scheme}://`);
}

/** Opens the Storage a repository URL names (see parseStorageUrl); nothing is contacted yet. */
export function openStorage(url: string, opts: OpenStorageOptions = {}): Storage {
  const target = parseStorageUrl(url, opts);
  if (target.kind === 'fs') return new FsStorage(target.root);
  const env = opts.env ?? process.env;
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  // The S3 client (AWS SDK) is loaded only when an s3:// repository is opened: a local repository,
  // and every start of the command, skip its cost.
  const { DEFAULT_REGION, S3Storage } = require('./s3') as typeof S3Module;
  return new S3Storage({
    bucket: target.bucket,
    prefix: target.prefix,
    ...(target.endpoint === undefined ? {} : { endpoint: target.endpoint }),
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? DEFAULT_REGION,
    // Keys in the given environment are used as they are; otherwise the SDK's default chain
    // (profiles, SSO, container and instance roles) finds them.
    ...(accessKeyId !== undefined && secretAccessKey !== undefined
      ? {
          credentials: {
            accessKeyId,
            secretAccessKey,
            ...(sessionToken === undefined ? {} : { sessionToken }),
          },
        }
      : {}),
  });
}

/**
 * A one-line description of where a URL points, for messages and `--help` output, e.g.
 * `s3://bucket/prefix (endpoint http://127.0.0.1:1234)` or `/srv/backups/repo`. Equal to the
 * `location` of the Storage that openStorage returns.
 */
export function describeStorage(url: string, opts: OpenStorageOptions = {}): string {
  const target = parseStorageUrl(url, opts);
  if (target.kind === 'fs') return target.root;
  const base = `s3://${target.bucket}${target.prefix === '' ? '' : `/${target.prefix}`}`;
  return target.endpoint === undefined ? base : `${base} (endpoint ${redactUrlCredentials(target.endpoint)})`;
}

function parseFileUrl(url: string): string {
  try {
    // fileURLToPath rejects a host other than localhost and decodes %20 and the like.
    return fileURLToPath(url);
  } catch (error) {
    throw new StorageUrlError(url, 'not a local file URL (file:///absolute/path)', { cause: error });
  }
}

function parseS3Url(url: string): { bucket: string; prefix: string } {
  const rest = url.slice('s3://'.length);
  if (/[?#]/.test(rest)) throw new StorageUrlError(url, 'an s3:// URL takes no query or fragment');
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  if (authority.includes('@')) {
    throw new StorageUrlError(url, 'credentials do not belong in the URL; use AWS_ACCESS_KEY_ID and friends');
  }
  if (authority === '') throw new StorageUrlError(url, 'no bucket name after s3://');
  if (!BUCKET_NAME.test(authority))
    throw new StorageUrlError(url, `${JSON.stringify(authority)} is not a bucket name`);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
  if (
    prefix !== '' &&
    prefix.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
  ) {
    throw new StorageUrlError(url, 'the prefix has an empty, "." or ".." segment');
  }
  return { bucket: authority, prefix };
}

/** The endpoint must be an http(s) URL; `localhost:9000` (no scheme) is the usual slip. */
function checkEndpoint(url: string, endpoint: string): string {
  const shown = JSON.stringify(redactUrlCredentials(endpoint));
  if (!/^https?:\/\//i.test(endpoint)) {
    throw new StorageUrlError(url, `the S3 endpoint ${shown} must start with http:// or https://`);
  }
  if (!URL.canParse(endpoint)) throw new StorageUrlError(url, `the S3 endpoint ${shown} is not a URL`);
  return endpoint.replace(/\/+$/, '');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
