import {
  ACTIONS,
  type AccessRule,
  type Action,
  authorize,
  PERMISSIONS,
  stepUpNeeded,
  type Target,
} from '../../lib/security/permissions';
import { type Principal, ROLES, type Role } from '../../lib/security/principal';

const token = (subject: string, roles: Role[], sources?: string[]): Principal => ({
  kind: 'token',
  subject,
  roles,
  ...(sources ? { sources } : {}),
});

const allowed = (p: Principal, action: Action, target: Target, access?: AccessRule[]) =>
  authorize(p, action, target, access).allowed;

/** Every target shape an action can have. */
const TARGETS: Target[] = [
  {},
  { source: 'payments', dataClass: 'payment' },
  { source: 'saves', dataClass: 'personal', player: 'p1' },
  { subject: 'alice' },
];

describe('authorize: deny by default', () => {
  it('no role: nothing, whatever the target', () => {
    const nobody = token('alice', []);
    for (const action of ACTIONS)
      for (const target of TARGETS) expect(allowed(nobody, action, target)).toBe(false);
  });

  it('a role the table does not list for an action has no grant for it', () => {
    for (const action of ACTIONS)
      for (const role of ROLES) {
        if (Object.hasOwn(PERMISSIONS[action], role)) continue;
        for (const target of TARGETS) {
          const decision = authorize(token('p1', [role]), action, { ...target, player: 'p1', subject: 'p1' });
          expect(decision).toEqual({ allowed: false, reason: expect.stringContaining(`may not ${action}`) });
        }
      }
    // A few spelled out.
    expect(allowed(token('a', ['auditor']), 'backup', { source: 'saves' })).toBe(false);
    expect(allowed(token('a', ['dba']), 'delete', { source: 'payments' })).toBe(false);
    expect(allowed(token('a', ['operator']), 'release-hold', { source: 'payments' })).toBe(false);
    expect(allowed(token('a', ['player']), 'enrol', { subject: 'a' })).toBe(false);
  });

  it('the refusal names who and what', () => {
    expect(authorize(token('bob', ['auditor']), 'restore', { source: 'payments' })).toEqual({
      allowed: false,
      reason: 'bob (auditor) may not restore source payments',
    });
  });

  it('any of several roles may grant; the granting role is named', () => {
    expect(authorize(token('a', ['auditor', 'operator']), 'delete', { source: 'saves' })).toEqual({
      allowed: true,
      role: 'operator',
    });
  });
});

describe('authorize: scopes', () => {
  it('a service only for the sources its token claims', () => {
    const billing = token('billing', ['service'], ['payments']);
    expect(allowed(billing, 'backup', { source: 'payments' })).toBe(true);
    expect(allowed(billing, 'read', { source: 'payments' })).toBe(true);
    expect(allowed(billing, 'backup', { source: 'saves' })).toBe(false);
    expect(allowed(billing, 'backup', {})).toBe(false); // no source: nothing claimed covers it
    expect(allowed(billing, 'restore', { source: 'payments' })).toBe(false); // not in the table
    expect(allowed(token('billing', ['service']), 'backup', { source: 'payments' })).toBe(false);
  });

  it("a player for its own data, never another player's", () => {
    const p1 = token('p1', ['player']);
    expect(allowed(p1, 'restore', { source: 'saves', player: 'p1' })).toBe(true);
    expect(allowed(p1, 'read', { source: 'saves', player: 'p1' })).toBe(true);
    expect(allowed(p1, 'restore', { source: 'saves', player: 'p2' })).toBe(false);
    expect(allowed(p1, 'restore', { source: 'saves' })).toBe(false); // the whole source
    expect(allowed(p1, 'backup', { source: 'saves', player: 'p1' })).toBe(false);
    expect(authorize(p1, 'restore', { player: 'p2' })).toEqual({
      allowed: false,
      reason: 'p1 (player) may not restore the data of player p2',
    });
  });

  it('enrol: one’s own second factor only', () => {
    expect(allowed(token('alice', ['operator']), 'enrol', { subject: 'alice' })).toBe(true);
    expect(allowed(token('alice', ['admin']), 'enrol', { subject: 'bob' })).toBe(false);
    expect(allowed(token('alice', ['admin']), 'enrol', {})).toBe(false);
  });
});

describe('authorize: access rules narrow, never widen', () => {
  const access: AccessRule[] = [
    { sources: ['payments'], roles: ['dba'], allow: ['backup', 'restore', 'read'] },
    { dataClasses: ['game-content'], roles: ['operator'], allow: ['read', 'delete'] },
    { sources: ['saves'], roles: ['player', 'auditor'], allow: ['delete', 'release-hold'] },
  ];
  const dba = token('dana', ['dba']);

  it('a dba on payments by a rule; on a source no rule covers: refused', () => {
    expect(authorize(dba, 'backup', { source: 'payments', dataClass: 'payment' }, access)).toEqual({
      allowed: true,
      role: 'dba',
    });
    expect(authorize(dba, 'backup', { source: 'saves', dataClass: 'personal' }, access)).toEqual({
      allowed: false,
      reason: 'dana (dba) may not backup source saves: no access rule allows it',
    });
    // Without rules the table alone decides.
    expect(allowed(dba, 'backup', { source: 'saves' })).toBe(true);
    // An empty list: every source refused.
    expect(allowed(dba, 'backup', { source: 'payments' }, [])).toBe(false);
  });

  it('a rule covers only its actions, its roles, its sources or data classes', () => {
    const operator = token('olga', ['operator']);
    expect(allowed(operator, 'read', { source: 'catalogue', dataClass: 'game-content' }, access)).toBe(true);
    expect(allowed(operator, 'backup', { source: 'catalogue', dataClass: 'game-content' }, access)).toBe(
      false,
    );
    expect(allowed(operator, 'read', { source: 'payments', dataClass: 'payment' }, access)).toBe(false);
    expect(allowed(operator, 'read', { source: 'catalogue' }, access)).toBe(false); // class unknown
    expect(allowed(dba, 'read', { source: 'catalogue', dataClass: 'game-content' }, access)).toBe(false);
  });

  it('a rule grants nothing the table does not (a player may not delete, an auditor may not release)', () => {
    expect(allowed(token('p1', ['player']), 'delete', { source: 'saves', player: 'p1' }, access)).toBe(false);
    expect(allowed(token('au', ['auditor']), 'release-hold', { source: 'saves' }, access)).toBe(false);
  });

  it('admin is not narrowed', () => {
    const admin = token('root', ['admin']);
    expect(authorize(admin, 'delete', { source: 'saves', dataClass: 'personal' }, access)).toEqual({
      allowed: true,
      role: 'admin',
    });
    expect(allowed(admin, 'manage-keys', { source: 'payments' }, [])).toBe(true);
  });

  it('an action without a source (the audit trail) is not narrowed by rules about sources', () => {
    expect(allowed(token('au', ['auditor']), 'read-audit', {}, access)).toBe(true);
  });
});

describe('authorize: prototype names never grant', () => {
  const NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'name', 'length'];
  const everyRole = token('root', [...ROLES], ['payments']);

  it('as an action', () => {
    for (const action of NAMES)
      for (const target of TARGETS)
        expect(
          authorize(everyRole, action as Action, { ...target, player: 'root', subject: 'root' }).allowed,
        ).toBe(false);
  });

  it('as a role', () => {
    for (const role of NAMES)
      for (const action of [...ACTIONS, ...NAMES])
        for (const target of TARGETS)
          expect(allowed(token('x', [role as Role], [target.source ?? '']), action as Action, target)).toBe(
            false,
          );
  });

  it('as a source, a data class, a player: not claimed, not covered by a rule', () => {
    const billing = token('billing', ['service'], ['payments']);
    const dba = token('dana', ['dba']);
    const access: AccessRule[] = [
      { sources: ['payments'], dataClasses: ['payment'], roles: ['dba'], allow: ['read'] },
    ];
    for (const name of NAMES) {
      expect(allowed(billing, 'backup', { source: name })).toBe(false);
      expect(allowed(dba, 'read', { source: name }, access)).toBe(false);
      expect(allowed(dba, 'read', { source: name, dataClass: name }, access)).toBe(false);
      expect(allowed(token('p1', ['player']), 'restore', { player: name })).toBe(false);
      expect(allowed(token('p1', ['operator']), 'enrol', { subject: name })).toBe(false);
    }
  });
});

describe('stepUpNeeded: critical actions only', () => {
  it('release-hold always; change-policy when it shortens; manage-keys when it removes a slot', () => {
    expect(stepUpNeeded('release-hold', {})).toBe(true);
    expect(stepUpNeeded('change-policy', { shortens: true })).toBe(true);
    expect(stepUpNeeded('change-policy', { shortens: false })).toBe(false);
    expect(stepUpNeeded('change-policy', {})).toBe(false);
    expect(stepUpNeeded('manage-keys', { removes: true })).toBe(true);
    expect(stepUpNeeded('manage-keys', {})).toBe(false);
  });

  it('delete of personal or payment data; restore of payment data', () => {
    expect(stepUpNeeded('delete', { dataClass: 'personal' })).toBe(true);
    expect(stepUpNeeded('delete', { dataClass: 'payment' })).toBe(true);
    expect(stepUpNeeded('delete', { dataClass: 'game-content' })).toBe(false);
    expect(stepUpNeeded('delete', {})).toBe(false);
    expect(stepUpNeeded('restore', { dataClass: 'payment' })).toBe(true);
    expect(stepUpNeeded('restore', { dataClass: 'personal' })).toBe(false);
  });

  it('nothing else, and no prototype name as a data class', () => {
    for (const action of ['read', 'backup', 'hold', 'read-audit', 'enrol'] as const)
      for (const dataClass of ['payment', 'personal'])
        expect(stepUpNeeded(action, { dataClass, shortens: true, removes: true })).toBe(false);
    for (const dataClass of ['__proto__', 'constructor', 'has'])
      expect(stepUpNeeded('delete', { dataClass })).toBe(false);
  });
});
