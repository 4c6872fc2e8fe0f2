import { AGENT, type Grants, STAGES, type StageName } from '../../lib/infra/stages';
import {
  agentRoles,
  ROLE,
  type RoleGrant,
  storageRoles,
  triggerRoles,
  workloadRoles,
} from '../../lib/infra/yandex/iam';

const stage = (name: StageName) => {
  const s = STAGES.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const roles = (grants: RoleGrant[]) => grants.map((g) => g.role);
const storage = (grants: RoleGrant[]) => grants.filter((g) => g.role.startsWith('storage.'));

describe('storageRoles: bucket actions to Object Storage roles', () => {
  it.each([
    [['read', 'list'], [ROLE.storageViewer]],
    [['list'], [ROLE.storageViewer]],
    [['write'], [ROLE.storageUploader]],
    [
      ['read', 'write', 'list'],
      [ROLE.storageViewer, ROLE.storageUploader],
    ],
    [['read', 'delete', 'list'], [ROLE.storageEditor]],
    [['read', 'write', 'delete', 'list'], [ROLE.storageEditor]],
    [[], []],
  ])('%j → %j', (actions, expected) => {
    expect(storageRoles(actions)).toEqual(expected);
  });
});

describe('workloadRoles: least privilege from the stage table', () => {
  it('api views and uploads to the repository (its audit trail), holds the key, sends alerts; never landing, never deletes', () => {
    const grants = workloadRoles(stage('api').grants);
    expect(storage(grants)).toEqual([
      { role: ROLE.storageViewer, scope: { kind: 'bucket', bucket: 'repository' } },
      { role: ROLE.storageUploader, scope: { kind: 'bucket', bucket: 'repository' } },
    ]);
    expect(grants).toContainEqual({ role: ROLE.kmsEncrypterDecrypter, scope: { kind: 'key' } });
    expect(grants).toContainEqual({ role: ROLE.ydbEditor, scope: { kind: 'catalog' } });
    expect(grants.filter((g) => g.role === ROLE.lockboxPayloadViewer)).toEqual([
      { role: ROLE.lockboxPayloadViewer, scope: { kind: 'secret', secret: 'password' } },
      { role: ROLE.lockboxPayloadViewer, scope: { kind: 'secret', secret: 'keys' } },
    ]);
    expect(grants).toContainEqual({ role: ROLE.ymqWriter, scope: { kind: 'folder' } });
    expect(roles(grants)).not.toContain(ROLE.containerInvoker);
  });

  it('verify reads the repository, appends its audit events (uploader), and can delete nothing', () => {
    const grants = workloadRoles(stage('verify').grants);
    expect(
      storage(grants)
        .map((g) => g.role)
        .sort(),
    ).toEqual([ROLE.storageUploader, ROLE.storageViewer].sort());
    expect(roles(grants)).not.toContain(ROLE.storageEditor);
  });

  it('only purge deletes from the repository, and only orchestrate from landing', () => {
    const editors = STAGES.flatMap((s) =>
      storage(workloadRoles(s.grants))
        .filter((g) => g.role === ROLE.storageEditor)
        .map((g) => `${s.name}:${g.scope.kind === 'bucket' ? g.scope.bucket : ''}`),
    );
    expect(editors.sort()).toEqual(['orchestrate:landing', 'purge:repository']);
    expect(storage(agentRoles(AGENT.grants)).map((g) => g.role)).not.toContain(ROLE.storageEditor);
  });

  it('only orchestrate may invoke the agent container', () => {
    const invokers = STAGES.filter((s) => roles(workloadRoles(s.grants)).includes(ROLE.containerInvoker));
    expect(invokers.map((s) => s.name)).toEqual(['orchestrate']);
    expect(roles(agentRoles(AGENT.grants))).not.toContain(ROLE.containerInvoker);
  });

  it('the KMS key and the password secret go only to repositoryKey workloads', () => {
    for (const s of [...STAGES, AGENT]) {
      const grants = workloadRoles(s.grants);
      const password = grants.some((g) => g.scope.kind === 'secret' && g.scope.secret === 'password');
      expect([s.name, password]).toEqual([s.name, s.grants.repositoryKey]);
      expect([s.name, roles(grants).includes(ROLE.kmsEncrypterDecrypter)]).toEqual([
        s.name,
        s.grants.repositoryKey,
      ]);
    }
  });

  it('a workload that sends or dead-letters writes to queues; reading is the trigger’s', () => {
    const none: Grants = { buckets: {}, catalog: 'read', send: [], repositoryKey: false };
    expect(roles(workloadRoles(none))).toEqual([ROLE.ydbViewer, ROLE.lockboxPayloadViewer]);
    expect(roles(workloadRoles({ ...none, dlq: true }))).toContain(ROLE.ymqWriter);
    expect(roles(workloadRoles({ ...none, send: ['verify'] }))).toContain(ROLE.ymqWriter);
    for (const s of STAGES) expect(roles(workloadRoles(s.grants))).not.toContain(ROLE.ymqReader);
  });

  it('a bucket grant needs the KMS key even without repositoryKey (the buckets are SSE-KMS)', () => {
    const reader: Grants = {
      buckets: { landing: ['read'] },
      catalog: 'read',
      send: [],
      repositoryKey: false,
    };
    expect(roles(workloadRoles(reader))).toContain(ROLE.kmsEncrypterDecrypter);
    expect(roles(workloadRoles(reader))).not.toContain(ROLE.storageUploader);
  });

  it('the agent pulls its image', () => {
    expect(agentRoles(AGENT.grants)).toContainEqual({ role: ROLE.imagePuller, scope: { kind: 'folder' } });
  });
});

describe('triggerRoles', () => {
  it('invokes its own function; reads queues only for a queue trigger', () => {
    expect(triggerRoles(stage('api').triggers)).toEqual([
      { role: ROLE.functionInvoker, scope: { kind: 'function' } },
    ]);
    expect(roles(triggerRoles(stage('purge').triggers))).toEqual([ROLE.functionInvoker]);
    expect(roles(triggerRoles(stage('ingest').triggers))).toEqual([ROLE.functionInvoker, ROLE.ymqReader]);
    expect(roles(triggerRoles(stage('orchestrate').triggers))).toEqual([
      ROLE.functionInvoker,
      ROLE.ymqReader,
      ROLE.ymqWriter,
    ]);
  });
});
