import { AUDIT_ONLY_ACTIONS } from '../../lib/audit/event';
import type { Verb } from '../../lib/cli/verb';
import { VERBS } from '../../lib/cli/verbs/index';
import { ACTIONS } from '../../lib/security/permissions';

/**
 * Every CLI action, as the authorization matrix walks every route: each verb either declares what it
 * records in the audit trail, or is here with why it records nothing. A verb added without either fails.
 */
const NOT_RECORDED: Record<string, string> = {
  init: 'creates an empty repository: no data to read or delete yet',
  backup: 'reads the source, not backed-up data; adds, never removes',
  snapshots: 'metadata: snapshot ids, times, tags',
  check: 'reads packs only to authenticate them, and prints no data',
  stats: 'metadata: sizes and counts',
  'key list': 'metadata: key slot ids and kinds',
  'audit log': 'reads the trail itself: a damaged trail must stay readable without writing to it',
  'audit verify': 'reads the trail itself, as above',
  unlock: 'removes stale locks, no data',
  'pg backup': 'reads the database, not backed-up data',
  'pg backups': 'metadata: base backups and WAL ranges',
  'pg wal-push': 'archives a WAL segment: a backup',
  'pg wal-fetch': 'run by PostgreSQL per segment during a recovery that pg restore or pg verify recorded',
  'pg dump': 'reads the database, not backed-up data',
  'pg check': 'checks the archive settings, no data',
  'config check': 'reads the configuration only',
  'deploy yandex': 'writes a deployment, no repository',
  serve: 'the service records each of its requests and jobs itself (origin `serve`)',
  version: 'prints the version',
  'auth lockout show': 'reads a lockout record: no data, no change',
};

const leaves = (v: Verb, path: string): [string, Verb][] =>
  v.subverbs ? v.subverbs.flatMap((s) => leaves(s, `${path} ${s.name}`)) : [[path, v]];
const ALL = VERBS.flatMap((v) => leaves(v, v.name));

describe('every CLI action is recorded in the audit trail, or says why not', () => {
  it.each(ALL.map(([path, verb]) => [path, verb] as const))('%s', (path, verb) => {
    if (verb.audit) {
      expect(NOT_RECORDED).not.toHaveProperty(path);
      expect([...ACTIONS, ...AUDIT_ONLY_ACTIONS]).toContain(verb.audit.action);
    } else expect(NOT_RECORDED[path]).toEqual(expect.any(String));
  });

  it('names no verb that does not exist', () => {
    const paths = new Set(ALL.map(([p]) => p));
    expect(Object.keys(NOT_RECORDED).filter((p) => !paths.has(p))).toEqual([]);
  });

  it('what reads, restores, deletes or changes keys is recorded', () => {
    const recorded = Object.fromEntries(ALL.filter(([, v]) => v.audit).map(([p, v]) => [p, v.audit!.action]));
    expect(recorded).toEqual({
      ls: 'read',
      diff: 'read',
      restore: 'restore',
      forget: 'delete',
      prune: 'delete',
      copy: 'restore',
      'key add': 'manage-keys',
      'key remove': 'manage-keys',
      'key passwd': 'manage-keys',
      'pg restore': 'restore',
      'pg restore-dump': 'restore',
      'pg verify': 'restore',
      'auth totp enrol': 'enrol',
      'auth totp remove': 'enrol',
      'auth lockout set': 'lockout',
      'auth lockout release': 'lockout',
    });
  });
});
