import { Match, Template } from 'aws-cdk-lib/assertions';
import { GSI1 } from '../../lib/catalog/dynamo-catalog';
import { CATALOG_INDEX } from '../../lib/infra/aws/catalog-table';

import { build, CDK_CONTEXT, logicalId, templates } from '../support/cdk-templates';

describe('data stack: buckets', () => {
  const tlsOnly = {
    PolicyDocument: {
      Statement: Match.arrayWith([
        Match.objectLike({
          Effect: 'Deny',
          Action: 's3:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      ]),
    },
  };

  it('both buckets: versioned, all public access blocked, SSE-KMS under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    data.resourcePropertiesCountIs(
      'AWS::S3::Bucket',
      {
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [key, 'Arn'] },
              },
            },
          ],
        },
      },
      2,
    );
    data.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });

  it('bucket names are known before deployment: zapas-<env>-<bucket>-<account>-<region>', () => {
    const joined = (bucket: string) => ({
      'Fn::Join': ['', [`zapas-dev-${bucket}-`, { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }]],
    });
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', { BucketName: joined('repository') });
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', { BucketName: joined('landing') });
    const environments = CDK_CONTEXT.environments as Record<string, Record<string, unknown>>;
    const pinned = {
      ...environments,
      dev: { ...environments.dev, account: '123456789012', region: 'eu-north-1' },
    };
    Template.fromStack(build({ environments: pinned }).data).hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'zapas-dev-repository-123456789012-eu-north-1',
    });
  });

  it('all three buckets (repository, landing, access logs) refuse requests without TLS', () => {
    templates('dev').data.resourcePropertiesCountIs('AWS::S3::BucketPolicy', tlsOnly, 3);
  });

  it('repository and landing log their requests to the access log bucket, which keeps them as long as logs', () => {
    for (const env of ['dev', 'prod'] as const) {
      const { data } = templates(env);
      const logs = logicalId(data, 'AWS::S3::Bucket', {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
      });
      const days = (CDK_CONTEXT.environments as Record<string, { logRetentionDays: number }>)[env]!
        .logRetentionDays;
      data.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: Match.objectLike({
          'Fn::Join': ['', Match.arrayWith([`zapas-${env}-access-logs-`])],
        }),
        LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire', ExpirationInDays: days })] },
        PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicPolicy: true }),
      });
      for (const name of ['repository', 'landing'])
        data.hasResourceProperties('AWS::S3::Bucket', {
          BucketName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith([`zapas-${env}-${name}-`])] }),
          LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: `${name}/` },
        });
      // Delivered under a bucket policy for the logging service (no ACL), from the two buckets only.
      data.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: logs },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'logging.s3.amazonaws.com' },
              Action: 's3:PutObject',
              Condition: Match.objectLike({ ArnLike: { 'aws:SourceArn': Match.anyValue() } }),
            }),
          ]),
        },
      });
    }
  });

  it('the repository tiers objects to Intelligent-Tiering and expires noncurrent versions', () => {
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'cold-tier',
            Status: 'Enabled',
            ObjectSizeGreaterThan: '131072',
            Transitions: [{ StorageClass: 'INTELLIGENT_TIERING', TransitionInDays: 30 }],
          }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
        ]),
      },
    });
  });

  it('the landing bucket expires its objects after the environment’s days', () => {
    templates('dev').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire', ExpirationInDays: 3 })] },
    });
    templates('prod').data.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ Id: 'expire', ExpirationInDays: 7 })] },
    });
  });

  it('prod: Object Lock in COMPLIANCE mode with default retention; buckets, table, key and secret retained', () => {
    const { data } = templates('prod');
    data.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
      },
    });
    for (const type of [
      'AWS::S3::Bucket',
      'AWS::DynamoDB::Table',
      'AWS::KMS::Key',
      'AWS::SecretsManager::Secret',
    ])
      for (const r of Object.values(data.findResources(type))) {
        expect(r.DeletionPolicy).toBe('Retain');
        expect(r.UpdateReplacePolicy).toBe('Retain');
      }
    data.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    expect(templates('prod').stacks.data.terminationProtection).toBe(true);
  });

  it('dev: no Object Lock, everything removable, buckets emptied on removal', () => {
    const { data } = templates('dev');
    data.resourcePropertiesCountIs('AWS::S3::Bucket', { ObjectLockEnabled: Match.anyValue() }, 0);
    for (const type of ['AWS::S3::Bucket', 'AWS::DynamoDB::Table', 'AWS::KMS::Key'])
      for (const r of Object.values(data.findResources(type))) expect(r.DeletionPolicy).toBe('Delete');
    data.resourceCountIs('Custom::S3AutoDeleteObjects', 3);
  });
});

describe('data stack: catalog and password', () => {
  it('table: pk/sk strings, gsi1 (ALL), on demand, TTL on ttl, PITR, KMS under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    expect(CATALOG_INDEX).toBe(GSI1);
    data.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'zapas-dev-catalog',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } },
    });
  });

  it('the repository password is a generated secret under the customer key', () => {
    const { data } = templates('dev');
    const key = logicalId(data, 'AWS::KMS::Key', {});
    data.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'zapas-dev-password',
      KmsKeyId: { 'Fn::GetAtt': [key, 'Arn'] },
      GenerateSecretString: Match.objectLike({ PasswordLength: 48 }),
    });
  });
});
