import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ObjectExistsError,
  ObjectNotFoundError,
  StorageError,
  StorageUnreachableError,
} from '../../lib/storage/errors';
import { MULTIPART_THRESHOLD_BYTES, S3Storage, type S3StorageOptions } from '../../lib/storage/s3';
import { collect, describeStorageAdapter, rejection } from '../storage/conformance';
import { withS3Server } from '../support/s3-server';

const server = withS3Server();

/** A fresh prefix per storage, so tests sharing the one bucket never see each other's objects. */
function uniquePrefix(label: string): string {
  return `${label}/${randomBytes(6).toString('hex')}`;
}

/** An adapter on the test server; the caller destroys it. */
function s3rverStorage(prefix: string, extra: Partial<S3StorageOptions> = {}): S3Storage {
  const s = server();
  return new S3Storage({
    bucket: s.bucket,
    prefix,
    endpoint: s.endpoint,
    region: s.region,
    credentials: s.credentials,
    ...extra,
  });
}

describeStorageAdapter('S3Storage on s3rver', async () => {
  const storage = s3rverStorage(uniquePrefix('conformance'));
  return { storage, cleanup: async () => storage.destroy() };
});

describe('S3Storage on s3rver', () => {
  it('describes itself by bucket, prefix and endpoint', () => {
    const storage = s3rverStorage('repos/main/');
    try {
      expect(storage.prefix).toBe('repos/main');
      expect(storage.location).toBe(`s3://${server().bucket}/repos/main (endpoint ${server().endpoint})`);
    } finally {
      storage.destroy();
    }
  });

  it('keeps repositories under sibling prefixes apart (repo/a is not repo/ab)', async () => {
    const base = uniquePrefix('isolation');
    const a = s3rverStorage(`${base}/a`);
    const ab = s3rverStorage(`${base}/ab`);
    try {
      await a.put('config', Buffer.from('a'));
      await ab.put('config', Buffer.from('ab'));
      expect(await collect(a.list(''))).toEqual([{ name: 'config', size: 1 }]);
      expect((await ab.get('config')).toString()).toBe('ab');
    } finally {
      a.destroy();
      ab.destroy();
    }
  });

  it('works at the bucket root (empty prefix)', async () => {
    const storage = s3rverStorage('');
    const name = `${uniquePrefix('root')}/obj`;
    try {
      await storage.put(name, Buffer.from('root'));
      expect(await collect(storage.list(name))).toEqual([{ name, size: 4 }]);
    } finally {
      storage.destroy();
    }
  });
});

describe('S3Storage failures', () => {
  const credentials = { accessKeyId: 'AKIAEXAMPLEKEYID', secretAccessKey: 'very-secret-do-not-print' };

  it('reports a closed port as StorageUnreachableError naming endpoint and bucket, quickly', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    // Default retry settings (5 attempts): connection refusals back off from 50 ms, well under a second.
    const storage = new S3Storage({ bucket: 'unreachable-bucket', prefix: 'p', endpoint, credentials });
    const started = Date.now();
    try {
      const error = await rejection(storage.get('config'));
      expect(error).toBeInstanceOf(StorageUnreachableError);
      const message = (error as Error).message;
      expect(message).toContain(endpoint);
      expect(message).toContain('unreachable-bucket');
      expect(message).toContain('ECONNREFUSED');
      expect(message).toContain('after 5 attempts');
      expect(message).not.toContain(credentials.secretAccessKey);
      expect(message).not.toContain(credentials.accessKeyId);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      storage.destroy();
    }
  });

  it('gives up on a server that accepts connections but never answers', async () => {
    const held = new Set<net.Socket>();
    // Accept and hold each socket: the request never gets a byte back.
    const silent = net.createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const storage = new S3Storage({
      bucket: 'silent-bucket',
      endpoint,
      credentials,
      requestTimeoutMs: 300,
      maxAttempts: 2,
    });
    try {
      const error = await rejection(storage.head('config'));
      expect(error).toBeInstanceOf(StorageUnreachableError);
      expect((error as Error).message).toMatch(/silent-bucket.*after 2 attempts: TimeoutError/);
    } finally {
      storage.destroy();
      // close() waits for open connections, and the server side of a timed-out one may linger.
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  /*
   * aws-sdk-client-mock replaces S3Client#send, so nothing below send (the retry middleware, signing,
   * the HTTP handler) runs under it: a mocked 503 would reach the adapter on the first attempt. To
   * test the retry configuration the adapter really builds, these tests keep the real client and
   * middleware and replace only the HTTP layer (the `requestHandler` option) with a scripted one.
   */
  describe('through the real SDK middleware with a scripted HTTP layer', () => {
    it('retries 503 SlowDown with backoff and then succeeds', async () => {
      const http = new ScriptedHttp((_request, call) =>
        call <= 2
          ? s3ErrorReply(503, 'SlowDown', 'Please reduce your request rate.')
          : { status: 200, headers: { etag: '"0123"' } },
      );
      const storage = new S3Storage({
        bucket: 'b',
        prefix: 'p',
        endpoint: 'http://s3.test.invalid',
        credentials,
        requestHandler: http,
      });
      await storage.put('data/ab/x', Buffer.from('payload'));
      expect(http.calls.map((c) => `${c.method} ${c.path}`)).toEqual(Array(3).fill('PUT /b/p/data/ab/x'));
      storage.destroy();
    });

    it('stops after maxAttempts of 503 and reports a StorageError naming the object', async () => {
      const http = new ScriptedHttp(() => s3ErrorReply(503, 'ServiceUnavailable', 'Try again.'));
      const storage = new S3Storage({
        bucket: 'b',
        endpoint: 'http://s3.test.invalid',
        credentials,
        requestHandler: http,
        maxAttempts: 3,
      });
      const error = await rejection(storage.get('index/0001'));
      expect(http.calls).toHaveLength(3);
      expect(error).toBeInstanceOf(StorageError);
      expect(error).not.toBeInstanceOf(StorageUnreachableError);
      expect((error as Error).message).toContain('GetObject of index/0001');
      expect((error as Error).message).toContain('HTTP 503');
      storage.destroy();
    });

    it('keeps at most maxConcurrency requests in flight', async () => {
      let inFlight = 0;
      let peak = 0;
      const http = new ScriptedHttp(async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 10));
        inFlight--;
        return { status: 200, headers: { 'content-length': '3' } };
      });
      const storage = new S3Storage({
        bucket: 'b',
        endpoint: 'http://s3.test.invalid',
        credentials,
        requestHandler: http,
        maxConcurrency: 3,
      });
      await Promise.all(Array.from({ length: 30 }, (_, i) => storage.head(`data/${i}`)));
      expect(http.calls).toHaveLength(30);
      expect(peak).toBe(3);
      storage.destroy();
    });
  });

  describe('with a mocked client (aws-sdk-client-mock)', () => {
    // Mock one instance, never the S3Client prototype, so the s3rver tests in this file are unaffected.
    const client = new S3Client({ region: 'us-east-1', credentials });
    const mock = mockClient(client);
    const storage = new S3Storage({ bucket: 'mocked', prefix: 'repo', client });
    afterEach(() => mock.reset());
    afterAll(() => {
      mock.restore();
      client.destroy();
    });

    it('sends If-None-Match: * and maps 412 PreconditionFailed to ObjectExistsError', async () => {
      // HeadObject says absent (the race s3rver cannot show): S3 itself must refuse the put.
      mock
        .on(HeadObjectCommand)
        .rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
      mock.on(PutObjectCommand).rejects(
        new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
          message: 'At least one of the pre-conditions you specified did not hold',
        }),
      );
      const error = await rejection(storage.put('locks/l1', Buffer.from('x'), { ifAbsent: true }));
      expect(error).toBeInstanceOf(ObjectExistsError);
      expect((error as ObjectExistsError).objectName).toBe('locks/l1');
      const puts = mock.commandCalls(PutObjectCommand);
      expect(puts).toHaveLength(1);
      expect(puts[0]?.args[0].input).toMatchObject({
        Bucket: 'mocked',
        Key: 'repo/locks/l1',
        IfNoneMatch: '*',
      });
    });

    it('sends If-None-Match: * with CompleteMultipartUpload of a large ifAbsent put, and maps its 412', async () => {
      mock
        .on(HeadObjectCommand)
        .rejects(new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } }));
      mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'upload-1' });
      mock.on(UploadPartCommand).resolves({ ETag: '"part"' });
      mock.on(CompleteMultipartUploadCommand).rejects(
        new S3ServiceException({
          name: 'PreconditionFailed',
          $fault: 'client',
          $metadata: { httpStatusCode: 412 },
          message: 'At least one of the pre-conditions you specified did not hold',
        }),
      );
      mock.on(AbortMultipartUploadCommand).resolves({});
      const large = Buffer.alloc(MULTIPART_THRESHOLD_BYTES + 1);
      await expect(storage.put('data/ab/pack', large, { ifAbsent: true })).rejects.toBeInstanceOf(
        ObjectExistsError,
      );
      expect(mock.commandCalls(PutObjectCommand)).toHaveLength(0);
      expect(mock.commandCalls(UploadPartCommand)).toHaveLength(3); // 8 + 8 + 1 byte
      expect(mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input).toMatchObject({
        Key: 'repo/data/ab/pack',
        IfNoneMatch: '*',
        UploadId: 'upload-1',
      });
      // The failed upload is aborted, so its parts do not linger (and cost) in the bucket.
      expect(mock.commandCalls(AbortMultipartUploadCommand)).toHaveLength(1);
    });

    it('does not send If-None-Match on a plain put', async () => {
      mock.on(PutObjectCommand).resolves({});
      await storage.put('config', Buffer.from('x'));
      expect(mock.commandCalls(PutObjectCommand)[0]?.args[0].input.IfNoneMatch).toBeUndefined();
      expect(mock.commandCalls(HeadObjectCommand)).toHaveLength(0);
    });

    it('maps AccessDenied to a StorageError naming the object, without secrets', async () => {
      const denied = new S3ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: { httpStatusCode: 403 },
        message: 'Access Denied',
      });
      mock.on(GetObjectCommand).rejects(denied);
      const error = await rejection(storage.get('data/ab/ab12'));
      expect(error).toBeInstanceOf(StorageError);
      expect(error).not.toBeInstanceOf(ObjectNotFoundError);
      const message = (error as Error).message;
      expect(message).toContain('data/ab/ab12');
      expect(message).toContain('s3://mocked/repo');
      expect(message).toMatch(/AccessDenied \(HTTP 403\)/);
      expect(message).not.toContain(credentials.secretAccessKey);
      expect((error as Error).cause).toBe(denied);
    });

    it('maps NoSuchBucket to a StorageError, not to a missing object', async () => {
      mock.on(GetObjectCommand).rejects(
        new S3ServiceException({
          name: 'NoSuchBucket',
          $fault: 'client',
          $metadata: { httpStatusCode: 404 },
          message: 'The specified bucket does not exist',
        }),
      );
      const error = await rejection(storage.get('config'));
      expect(error).toBeInstanceOf(StorageError);
      expect(error).not.toBeInstanceOf(ObjectNotFoundError);
    });
  });
});

interface ScriptedRequest {
  readonly method: string;
  readonly path: string;
}

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/**
 * An HTTP handler that answers from a script instead of the network, for the S3 client's
 * `requestHandler`: everything above it (retries, signing, parsing) is the SDK's own.
 */
class ScriptedHttp {
  readonly calls: ScriptedRequest[] = [];

  constructor(private readonly script: (request: ScriptedRequest, call: number) => Reply | Promise<Reply>) {}

  async handle(
    request: ScriptedRequest,
  ): Promise<{ response: { statusCode: number; headers: Record<string, string>; body: Readable } }> {
    this.calls.push({ method: request.method, path: request.path });
    const reply = await this.script(request, this.calls.length);
    return {
      response: {
        statusCode: reply.status,
        headers: reply.headers ?? {},
        body: Readable.from(reply.body === undefined ? [] : [Buffer.from(reply.body)]),
      },
    };
  }

  updateHttpClientConfig(): void {
    // Nothing to configure: there is no connection.
  }

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }
}

function s3ErrorReply(status: number, code: string, message: string): Reply {
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>test</RequestId></Error>`,
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
