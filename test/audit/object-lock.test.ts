import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { AuditLog } from '../../lib/audit/audit-log';
import { generateKeyring } from '../../lib/repo/keyring';
import { S3Storage } from '../../lib/storage/s3';
import { entry } from './fixtures';

/*
 * s3rver has no Object Lock, so the S3 requests are checked as sent: a bucket of one mocked client,
 * where HeadObject finds nothing (an empty trail) and PutObject is recorded.
 */
describe('audit events on S3 with Object Lock', () => {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
  const s3 = mockClient(client);
  const notFound = Object.assign(new Error('NotFound'), {
    name: 'NotFound',
    $metadata: { httpStatusCode: 404 },
  });
  beforeEach(() => {
    s3.reset();
    s3.on(HeadObjectCommand).rejects(notFound);
    s3.on(PutObjectCommand).resolves({});
  });
  afterAll(() => s3.restore());

  const storage = new S3Storage({ bucket: 'trail', prefix: 'repo', client });
  const repo = { storage, keyring: generateKeyring() };
  const now = new Date('2026-03-01T12:00:00.000Z');

  it('writes each event put-if-absent with the retention asked for', async () => {
    const log = new AuditLog(repo, { retention: { mode: 'COMPLIANCE', days: 400 }, now: () => now });
    await log.append(entry(1));
    await log.append(entry(2));
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual(['repo/audit/0000000000000001', 'repo/audit/0000000000000002']);
    for (const p of puts) {
      expect(p.IfNoneMatch).toBe('*');
      expect(p.ObjectLockMode).toBe('COMPLIANCE');
      expect(p.ObjectLockRetainUntilDate).toEqual(new Date('2027-04-05T12:00:00.000Z'));
    }
  });

  it('without a retention, sends no Object Lock fields', async () => {
    await new AuditLog(repo).append(entry(1));
    const [put] = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(put).not.toHaveProperty('ObjectLockMode');
    expect(put).not.toHaveProperty('ObjectLockRetainUntilDate');
  });

  it('refuses a retention that is not a whole number of days', () => {
    expect(() => new AuditLog(repo, { retention: { mode: 'GOVERNANCE', days: 0.5 } })).toThrow(RangeError);
  });
});
