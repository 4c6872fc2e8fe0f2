/**
 * The two buckets. Both get the same hardening — versioning, TLS-only policy, all public access blocked,
 * SSE-KMS under the deployment's key (with S3 Bucket Keys, so KMS is called per bucket and day rather than
 * per object), server access logs to a third bucket — and differ in what they keep: the repository keeps
 * everything and tiers it, the landing bucket only stages platform exports until ingest has read them.
 */
import { Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { type BucketName, resourceName } from '../stages';
import type { EnvironmentSettings } from './settings';

/** Intelligent-Tiering does not tier objects under 128 KiB but charges to monitor them. */
const TIERING_MIN_OBJECT_BYTES = 128 * 1024;
/** An upload abandoned mid-way (a crashed writer) stops costing after this. */
const ABORT_MULTIPART_AFTER_DAYS = 7;
/** Overwritten or deleted landing versions: nothing reads them once ingested. */
const LANDING_NONCURRENT_DAYS = 1;

interface HardenedBucketProps {
  name: BucketName;
  key: IKey;
  settings: EnvironmentSettings;
  lifecycleRules: s3.LifecycleRule[];
  objectLock?: EnvironmentSettings['objectLock'];
  /** Where S3 writes who read, wrote and deleted what (accessLogsBucket). */
  accessLogs: s3.IBucket;
}

/** The access log bucket's name part. */
export const ACCESS_LOGS = 'access-logs';

/**
 * A bucket's name, known before deployment so that zapas.yaml can point at it
 * (`s3://zapas-prod-repository-<account>-<region>/<prefix>`): bucket names are global, hence the account
 * and region in it (CloudFormation's when the environment does not name them; `unknown` for messages).
 */
export function bucketName(
  settings: EnvironmentSettings,
  bucket: BucketName | typeof ACCESS_LOGS,
  unknown: { account: string; region: string } = { account: Aws.ACCOUNT_ID, region: Aws.REGION },
): string {
  const account = settings.account ?? unknown.account;
  return resourceName(settings.prefix, `${bucket}-${account}-${settings.region ?? unknown.region}`);
}

function hardenedBucket(scope: Construct, id: string, props: HardenedBucketProps): s3.Bucket {
  const destroy = props.settings.removal === 'destroy';
  const lock = props.objectLock;
  return new s3.Bucket(scope, id, {
    bucketName: bucketName(props.settings, props.name),
    versioned: true,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: props.key,
    bucketKeyEnabled: true,
    lifecycleRules: props.lifecycleRules,
    serverAccessLogsBucket: props.accessLogs,
    serverAccessLogsPrefix: `${props.name}/`,
    removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    // Emptying a bucket on removal is for dev only, and impossible when versions are locked (settings refuse it).
    autoDeleteObjects: destroy && !lock,
    ...(lock && {
      objectLockEnabled: true,
      objectLockDefaultRetention:
        lock.mode === 'COMPLIANCE'
          ? s3.ObjectLockRetention.compliance(Duration.days(lock.days))
          : s3.ObjectLockRetention.governance(Duration.days(lock.days)),
    }),
  });
}

/**
 * The server access logs of both buckets, under `repository/` and `landing/`, kept as long as the
 * environment keeps logs. S3 delivers them only to a bucket under SSE-S3 (not SSE-KMS), and only through a
 * bucket policy for logging.s3.amazonaws.com, which aws-cdk-lib writes with the source buckets' ARNs.
 */
export function accessLogsBucket(scope: Construct, id: string, settings: EnvironmentSettings): s3.Bucket {
  const destroy = settings.removal === 'destroy';
  // cdk-nag's S1 counts a bucket that receives access logs as compliant: it is not logged itself.
  return new s3.Bucket(scope, id, {
    bucketName: bucketName(settings, ACCESS_LOGS),
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    encryption: s3.BucketEncryption.S3_MANAGED,
    lifecycleRules: [
      {
        id: 'expire',
        expiration: Duration.days(settings.logRetentionDays),
        abortIncompleteMultipartUploadAfter: Duration.days(ABORT_MULTIPART_AFTER_DAYS),
      },
    ],
    removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
    autoDeleteObjects: destroy,
  });
}

/** The repository bucket: packs, indexes, snapshots; tiered when cold, locked when the environment says so. */
export function repositoryBucket(
  scope: Construct,
  id: string,
  key: IKey,
  settings: EnvironmentSettings,
  accessLogs: s3.IBucket,
): s3.Bucket {
  const lifecycleRules: s3.LifecycleRule[] = [
    {
      id: 'cold-tier',
      objectSizeGreaterThan: TIERING_MIN_OBJECT_BYTES,
      transitions: [
        {
          storageClass: s3.StorageClass.INTELLIGENT_TIERING,
          transitionAfter: Duration.days(settings.coldTierAfterDays),
        },
      ],
    },
    {
      id: 'noncurrent-versions',
      noncurrentVersionExpiration: Duration.days(settings.noncurrentVersionDays),
      abortIncompleteMultipartUploadAfter: Duration.days(ABORT_MULTIPART_AFTER_DAYS),
    },
  ];
  const bucket = hardenedBucket(scope, id, {
    name: 'repository',
    key,
    settings,
    objectLock: settings.objectLock,
    lifecycleRules,
    accessLogs,
  });
  // CloudFormation types the size as a string (a Long); aws-cdk-lib writes a number, which validation
  // flags on every synth.
  (bucket.node.defaultChild as s3.CfnBucket).addPropertyOverride(
    `LifecycleConfiguration.Rules.${lifecycleRules.findIndex((r) => r.id === 'cold-tier')}.ObjectSizeGreaterThan`,
    String(TIERING_MIN_OBJECT_BYTES),
  );
  return bucket;
}

/** The landing bucket: platform exports wait here for ingest; they expire as a safety net. */
export function landingBucket(
  scope: Construct,
  id: string,
  key: IKey,
  settings: EnvironmentSettings,
  accessLogs: s3.IBucket,
): s3.Bucket {
  return hardenedBucket(scope, id, {
    name: 'landing',
    key,
    settings,
    accessLogs,
    lifecycleRules: [
      {
        id: 'expire',
        expiration: Duration.days(settings.landingExpiryDays),
        noncurrentVersionExpiration: Duration.days(LANDING_NONCURRENT_DAYS),
        abortIncompleteMultipartUploadAfter: Duration.days(ABORT_MULTIPART_AFTER_DAYS),
      },
    ],
  });
}
