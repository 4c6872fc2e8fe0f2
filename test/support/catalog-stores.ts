import { rm } from 'node:fs/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { type DynamoServer, startDynamoServer } from './dynamo-server';
import { makeTempDir } from './temp';

/** What a suite running against every catalog adapter shares: dynalite, and cleanup of what it opened. */
export interface CatalogStores {
  /** The suite's dynalite server (started before the suite's tests). */
  server(): DynamoServer;
  /** A client of it. */
  client(): DynamoDBClient;
  /** Closes `catalog` when the suite ends. */
  keep<C extends EmbeddedCatalog>(catalog: C): C;
  /** A temporary folder removed when the suite ends. */
  folder(prefix: string): Promise<string>;
}

/** Starts dynalite for the suite; closes embedded catalogs and removes folders after it. */
export function useCatalogStores(): CatalogStores {
  let server: DynamoServer | undefined;
  let client: DynamoDBClient | undefined;
  const folders: string[] = [];
  const opened: EmbeddedCatalog[] = [];
  beforeAll(async () => {
    server = await startDynamoServer();
    client = server.client();
  });
  afterAll(async () => {
    await server?.stop();
    for (const c of opened) c.close();
    for (const dir of folders) await rm(dir, { recursive: true, force: true });
  });
  return {
    server: () => server!,
    client: () => client!,
    keep: (catalog) => {
      opened.push(catalog);
      return catalog;
    },
    folder: async (prefix) => {
      const dir = await makeTempDir(prefix);
      folders.push(dir);
      return dir;
    },
  };
}
