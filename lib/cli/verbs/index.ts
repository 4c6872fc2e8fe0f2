import type { Verb } from '../verb';
import { audit } from './audit';
import { auth } from './auth';
import { backup } from './backup';
import { check } from './check';
import { config } from './config';
import { copy } from './copy';
import { deploy } from './deploy';
import { diff } from './diff';
import { forget } from './forget';
import { init } from './init';
import { key } from './key';
import { ls } from './ls';
import { pg } from './pg';
import { prune } from './prune';
import { restore } from './restore';
import { serveVerb } from './serve';
import { snapshots } from './snapshots';
import { stats } from './stats';
import { unlock } from './unlock';
import { version } from './version';

/** The command table: one module per verb. */
export const VERBS: readonly Verb[] = [
  init,
  backup,
  snapshots,
  ls,
  diff,
  restore,
  check,
  forget,
  prune,
  stats,
  copy,
  key,
  audit,
  unlock,
  pg,
  config,
  deploy,
  serveVerb,
  auth,
  version,
];
