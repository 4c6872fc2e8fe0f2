import type { AddressInfo } from 'node:net';
import { DeleteItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';

// dynalite has no types of its own.
// biome-ignore lint/suspicious/noExplicitAny: untyped module
const dynalite: (opts: Record<string, unknown>) => any = require('dynalite');

export interface DynamoServer {
  endpoint: string;
  client(): DynamoDBClient;
  stop(): Promise<void>;
}

/** A DynamoDB-compatible server (dynalite, in memory) on a free loopback port. */
export async function startDynamoServer(): Promise<DynamoServer> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: DynamoDBClient[] = [];
  return {
    endpoint,
    client() {
      const c = new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        maxAttempts: 1,
      });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * What DynamoDB's TTL does in the background, which dynalite does not: deletes the items of `table` whose
 * `ttl` (epoch seconds) is before `now`. Says how many it deleted.
 */
export async function sweepExpired(client: DynamoDBClient, table: string, now: Date): Promise<number> {
  let deleted = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: table, ...(start ? { ExclusiveStartKey: start as never } : {}) }),
    );
    for (const item of page.Items ?? []) {
      const ttl = item.ttl?.N;
      if (ttl === undefined || Number(ttl) >= now.getTime() / 1000) continue;
      await client.send(new DeleteItemCommand({ TableName: table, Key: { pk: item.pk!, sk: item.sk! } }));
      deleted++;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return deleted;
}
