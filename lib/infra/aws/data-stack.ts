/**
 * The data stack: what outlives any deployment of the functions — the customer key, the repository and
 * landing buckets, the catalog table, and the repository password. In prod all of it is retained when the
 * stack is deleted, and the stack itself has termination protection. The service stack only refers to it.
 */
import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secrets from 'aws-cdk-lib/aws-secretsmanager';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY as S3_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { resourceName } from '../stages';
import { accessLogsBucket, landingBucket, repositoryBucket } from './buckets';
import { catalogTable } from './catalog-table';
import type { EnvironmentSettings } from './settings';

/** KMS's shortest wait before a scheduled key deletion (dev); prod keeps the key. */
const KEY_PENDING_WINDOW_DAYS = 7;
const PASSWORD_LENGTH = 48;

export interface DataStackProps extends StackProps {
  settings: EnvironmentSettings;
}

export class DataStack extends Stack {
  readonly key: kms.Key;
  readonly repository: s3.Bucket;
  readonly landing: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly catalog: dynamodb.Table;
  readonly password: secrets.Secret;

  constructor(scope: Construct, id: string, props: DataStackProps) {
    const { settings } = props;
    super(scope, id, { terminationProtection: settings.removal === 'retain', ...props });
    // Access logs are delivered under a bucket policy for logging.s3.amazonaws.com, not the log-delivery
    // ACL (which bucket-owner-enforced ownership refuses), whatever the app's feature flags say.
    this.node.setContext(S3_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const removalPolicy = settings.removal === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.key = new kms.Key(this, 'Key', {
      alias: `alias/${settings.prefix}`,
      description: `zapas ${settings.name}: buckets, catalog and the repository password`,
      enableKeyRotation: true,
      pendingWindow: Duration.days(KEY_PENDING_WINDOW_DAYS),
      removalPolicy,
    });
    this.accessLogs = accessLogsBucket(this, 'AccessLogs', settings);
    this.repository = repositoryBucket(this, 'Repository', this.key, settings, this.accessLogs);
    this.landing = landingBucket(this, 'Landing', this.key, settings, this.accessLogs);
    this.catalog = catalogTable(this, 'Catalog', this.key, settings);
    // Losing this secret loses every backup: it is retained with the key in prod. When the repository
    // exists already, put its password here (docs/deploy-aws.md) before the first job.
    this.password = new secrets.Secret(this, 'Password', {
      secretName: resourceName(settings.prefix, 'password'),
      description: 'the repository password (wraps the master key; see docs/format.md)',
      encryptionKey: this.key,
      generateSecretString: { passwordLength: PASSWORD_LENGTH, excludePunctuation: true },
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(this.password, [
      {
        id: 'AwsSolutions-SMG4',
        reason:
          'the repository password wraps the master key inside the repository (docs/format.md): a new value must be rewrapped there first (a zapas key change), which no rotation Lambda can do; replacing the secret alone would lock every backup out',
      },
    ]);
  }
}
