import type { Verb } from '../../verb';

/** `zapas pg …` without its sub-verbs: the full table and the WAL verbs' own table both build on it. */
export const PG_GROUP = {
  name: 'pg',
  summary: 'PostgreSQL: base backups, WAL archive, point-in-time restore, dumps, verification',
  exits: [0, 1, 2],
  run: async () => 2,
} as const satisfies Omit<Verb, 'subverbs'>;
