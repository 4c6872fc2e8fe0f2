/**
 * The catalog: a serverless YDB database and, in it, the document table the DynamoDB adapter uses.
 *
 * The table is an `aws_dynamodb_table` through the hashicorp/aws provider pointed at the database's
 * document API endpoint, as Yandex documents (yandex.cloud/docs/ydb/terraform/dynamodb-tables). The
 * Yandex provider's `yandex_ydb_table` makes YQL row tables, which the document API does not serve, and
 * creating the table at the first function start would need `ydb.admin`-like rights in every function.
 *
 * Its key schema is the one `DynamoCatalog.ensureTable` creates (lib/catalog/dynamo-catalog.ts; a test
 * keeps them equal): `pk`/`sk`, global index `gsi1` with projection ALL (YDB takes no other), and TTL on
 * `ttl` for leases, finished jobs and export parts past their retention (YDB may delete expired items up
 * to two days late; readers judge leases by `expiresAt`).
 */
import { resourceName } from '../stages';
import { YANDEX_REGION } from './limits';
import { FOLDER_ID, ONE, PREFIX, TYPE } from './resources';
import type { TerraformDocument } from './terraform-json';

export const CATALOG_TABLE = {
  hashKey: 'pk',
  rangeKey: 'sk',
  index: { name: 'gsi1', hashKey: 'gsi1pk', rangeKey: 'gsi1sk' },
  ttlAttribute: 'ttl',
} as const;

export function addCatalog(doc: TerraformDocument): void {
  const database = doc.resource(TYPE.database, ONE.catalog, {
    name: resourceName(PREFIX, 'catalog'),
    folder_id: FOLDER_ID,
    location_id: YANDEX_REGION,
    deletion_protection: true,
  });
  const t = CATALOG_TABLE;
  doc.resource(TYPE.table, ONE.catalog, {
    name: resourceName(PREFIX, 'catalog'),
    billing_mode: 'PAY_PER_REQUEST',
    hash_key: t.hashKey,
    range_key: t.rangeKey,
    attribute: [t.hashKey, t.rangeKey, t.index.hashKey, t.index.rangeKey].map((name) => ({
      name,
      type: 'S',
    })),
    global_secondary_index: {
      name: t.index.name,
      hash_key: t.index.hashKey,
      range_key: t.index.rangeKey,
      projection_type: 'ALL',
    },
    ttl: { attribute_name: t.ttlAttribute, enabled: true },
    depends_on: [database],
  });
}
