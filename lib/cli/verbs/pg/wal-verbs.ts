import type { Verb } from '../../verb';
import { PG_GROUP } from './group';
import { walFetch } from './wal-fetch';
import { walPush } from './wal-push';

/**
 * The command table for `zapas pg wal-push` and `zapas pg wal-fetch` alone: PostgreSQL runs them once per
 * WAL segment, so they skip loading the rest of the CLI (config, scheduling, serve, deploy, base backup).
 */
export const WAL_VERBS: readonly Verb[] = [{ ...PG_GROUP, subverbs: [walPush, walFetch] }];
