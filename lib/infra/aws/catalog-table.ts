/**
 * The catalog table, in the layout lib/catalog/dynamo-catalog.ts writes (docs/catalog.md): string keys
 * `pk`/`sk`, one global index `gsi1` (`gsi1pk`/`gsi1sk`, projection ALL — the only one YDB takes), TTL on
 * `ttl` for leases, finished jobs and export parts past their retention. On-demand billing, point-in-time
 * recovery, encrypted under the deployment's key.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { resourceName } from '../stages';
import type { EnvironmentSettings } from './settings';

/** The index name the catalog adapter queries (its GSI1; test/infra checks that they agree). */
export const CATALOG_INDEX = 'gsi1';
export const CATALOG_TTL_ATTRIBUTE = 'ttl';

const S = dynamodb.AttributeType.STRING;

export function catalogTable(
  scope: Construct,
  id: string,
  key: IKey,
  settings: EnvironmentSettings,
): dynamodb.Table {
  const retain = settings.removal === 'retain';
  const table = new dynamodb.Table(scope, id, {
    tableName: resourceName(settings.prefix, 'catalog'),
    partitionKey: { name: 'pk', type: S },
    sortKey: { name: 'sk', type: S },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    timeToLiveAttribute: CATALOG_TTL_ATTRIBUTE,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
    encryptionKey: key,
    deletionProtection: retain,
    removalPolicy: retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
  });
  table.addGlobalSecondaryIndex({
    indexName: CATALOG_INDEX,
    partitionKey: { name: 'gsi1pk', type: S },
    sortKey: { name: 'gsi1sk', type: S },
    projectionType: dynamodb.ProjectionType.ALL,
  });
  return table;
}
