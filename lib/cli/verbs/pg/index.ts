import type { Verb } from '../../verb';
import { pgBackup } from './backup';
import { pgBackups } from './backups';
import { pgCheck } from './check';
import { pgDump } from './dump';
import { PG_GROUP } from './group';
import { pgRestore } from './restore';
import { pgRestoreDump } from './restore-dump';
import { pgVerify } from './verify';
import { walFetch } from './wal-fetch';
import { walPush } from './wal-push';

/** `zapas pg …`: PostgreSQL base backups, WAL archiving, point-in-time restore, logical dumps. */
export const pg: Verb = {
  ...PG_GROUP,
  subverbs: [pgBackup, pgRestore, pgBackups, walPush, walFetch, pgDump, pgRestoreDump, pgVerify, pgCheck],
};
