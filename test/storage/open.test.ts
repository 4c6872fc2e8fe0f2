import path from 'node:path';
import { StorageError, StorageUrlError } from '../../lib/storage/errors';
import { FsStorage } from '../../lib/storage/fs';
import { describeStorage, openStorage, parseStorageUrl } from '../../lib/storage/open';
import { S3Storage } from '../../lib/storage/s3';

/** An empty environment, so the machine's ZAPAS_S3_ENDPOINT or AWS_* never leak into a test. */
const noEnv = { env: {} };

describe('parseStorageUrl', () => {
  it.each([
    ['/srv/backups/repo', '/srv/backups/repo'],
    ['/srv/backups/repo/', '/srv/backups/repo'],
    ['file:///srv/backups/repo', '/srv/backups/repo'],
    ['file:///srv/with%20space', '/srv/with space'],
    ['file://localhost/srv/repo', '/srv/repo'],
    ['repo:2024', path.resolve('repo:2024')],
  ])('reads %j as the folder %j', (url, root) => {
    expect(parseStorageUrl(url, noEnv)).toEqual({ kind: 'fs', root });
  });

  it('resolves a relative path against the working directory', () => {
    expect(parseStorageUrl('backups/repo', noEnv)).toEqual({
      kind: 'fs',
      root: path.resolve('backups/repo'),
    });
  });

  it.each([
    ['s3://bucket', 'bucket', ''],
    ['s3://bucket/', 'bucket', ''],
    ['s3://my.bucket-1/repos', 'my.bucket-1', 'repos'],
    ['s3://bucket/repos/main/', 'bucket', 'repos/main'],
    ['S3://bucket/a/b/c', 'bucket', 'a/b/c'],
  ])('reads %j as bucket %j, prefix %j', (url, bucket, prefix) => {
    expect(parseStorageUrl(url, noEnv)).toEqual({ kind: 's3', bucket, prefix, endpoint: undefined });
  });

  it('takes the endpoint from the options before ZAPAS_S3_ENDPOINT', () => {
    const env = { ZAPAS_S3_ENDPOINT: 'http://127.0.0.1:9000' };
    expect(parseStorageUrl('s3://b1b/p', { env })).toMatchObject({ endpoint: 'http://127.0.0.1:9000' });
    expect(
      parseStorageUrl('s3://b1b/p', { env, s3Endpoint: 'https://storage.yandexcloud.net/' }),
    ).toMatchObject({
      endpoint: 'https://storage.yandexcloud.net',
    });
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['ftp://host/repo', 'unsupported scheme ftp://'],
    ['http://host/repo', 'unsupported scheme http://'],
    ['s3://', 'no bucket'],
    ['s3:///prefix', 'no bucket'],
    ['s3://Bad_Bucket/p', 'not a bucket name'],
    ['s3://ab/p', 'not a bucket name'],
    ['s3://bucket/a//b', 'empty'],
    ['s3://bucket/a/../b', '".."'],
    ['s3://bucket/p?region=eu', 'no query'],
    ['file://otherhost/srv/repo', 'not a local file URL'],
  ])('rejects %j (%s)', (url, reason) => {
    const error = thrown(() => parseStorageUrl(url, noEnv));
    expect(error).toBeInstanceOf(StorageUrlError);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toContain(JSON.stringify(url));
    expect(error.message).toContain(reason);
    expect(error.message).toContain(
      'accepted forms: a folder path, file:///absolute/path, s3://bucket[/prefix]',
    );
  });

  it('never repeats credentials written into a URL', () => {
    const error = thrown(() => parseStorageUrl('s3://AKIAID:s3cr3t@bucket/p', noEnv));
    expect(error).toBeInstanceOf(StorageUrlError);
    expect(error.message).not.toContain('s3cr3t');
    expect((error as StorageUrlError).url).toBe('s3://***@bucket/p');
  });

  it.each([
    ['ftp://u:pw@host', 'must start with http:// or https://'],
    ['localhost:9000', 'must start with http:// or https://'],
    ['http://exa mple', 'is not a URL'],
  ])('rejects the endpoint %j, without repeating its credentials', (endpoint, reason) => {
    const error = thrown(() => parseStorageUrl('s3://bucket/p', { env: { ZAPAS_S3_ENDPOINT: endpoint } }));
    expect(error).toBeInstanceOf(StorageUrlError);
    expect(error.message).toContain(reason);
    expect(error.message).not.toContain('pw');
  });
});

describe('openStorage', () => {
  it('opens a folder as FsStorage', () => {
    const storage = openStorage('file:///srv/backups/repo', noEnv);
    expect(storage).toBeInstanceOf(FsStorage);
    expect(storage.location).toBe('/srv/backups/repo');
  });

  it('opens s3:// as S3Storage with the endpoint, path-style and the environment region', async () => {
    const storage = openStorage('s3://bucket/repos/main', {
      s3Endpoint: 'http://127.0.0.1:1234',
      env: { AWS_REGION: 'ru-central1', AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret' },
    });
    try {
      expect(storage).toBeInstanceOf(S3Storage);
      const s3 = storage as S3Storage;
      expect([s3.bucket, s3.prefix, s3.endpoint]).toEqual(['bucket', 'repos/main', 'http://127.0.0.1:1234']);
      expect(storage.location).toBe('s3://bucket/repos/main (endpoint http://127.0.0.1:1234)');
      expect(await s3.client.config.region()).toBe('ru-central1');
      expect(s3.client.config.forcePathStyle).toBe(true);
      expect(await s3.client.config.credentials()).toMatchObject({
        accessKeyId: 'id',
        secretAccessKey: 'secret',
      });
    } finally {
      (storage as S3Storage).destroy();
    }
  });

  it('uses us-east-1 and virtual-hosted style for AWS when nothing is configured', async () => {
    const storage = openStorage('s3://bucket', noEnv) as S3Storage;
    try {
      expect(storage.location).toBe('s3://bucket');
      expect(await storage.client.config.region()).toBe('us-east-1');
      expect(storage.client.config.forcePathStyle).toBe(false);
    } finally {
      storage.destroy();
    }
  });
});

describe('describeStorage', () => {
  it('matches the location of the storage openStorage returns', () => {
    for (const url of ['/srv/repo', 's3://bucket/p', 's3://bucket']) {
      const storage = openStorage(url, { s3Endpoint: 'http://127.0.0.1:1234', env: {} });
      expect(describeStorage(url, { s3Endpoint: 'http://127.0.0.1:1234', env: {} })).toBe(storage.location);
      if (storage instanceof S3Storage) storage.destroy();
    }
  });

  it('redacts credentials in the endpoint', () => {
    expect(describeStorage('s3://bucket/p', { s3Endpoint: 'http://user:pw@127.0.0.1:1234', env: {} })).toBe(
      's3://bucket/p (endpoint http://***@127.0.0.1:1234)',
    );
  });
});

/** The error `run` throws (fails the test if it returns). */
function thrown(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error('expected a throw, but the call returned');
}
