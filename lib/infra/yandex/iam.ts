/**
 * Least privilege on Yandex Cloud, derived from the stage table's grants: which roles a stage's (or the
 * agent's) service account gets, and on what. Pure: the resources that bind them are written by access.ts.
 *
 * Roles are bound as narrowly as Yandex allows: on the bucket, the YDB database, the KMS key, the Lockbox
 * secret, the container or the function. Message Queue has no per-queue roles, so `ymq.*` are folder
 * roles (deploy into a folder of its own). Object Storage has no delete-only role: deleting needs
 * `storage.editor`, which is why only grants with `delete` get it.
 */
import type { BucketName, Grants, Trigger } from '../stages';

export const ROLE = {
  storageViewer: 'storage.viewer',
  storageUploader: 'storage.uploader',
  storageEditor: 'storage.editor',
  ymqWriter: 'ymq.writer',
  ymqReader: 'ymq.reader',
  ydbEditor: 'ydb.editor',
  ydbViewer: 'ydb.viewer',
  kmsEncrypterDecrypter: 'kms.keys.encrypterDecrypter',
  lockboxPayloadViewer: 'lockbox.payloadViewer',
  containerInvoker: 'serverless.containers.invoker',
  functionInvoker: 'functions.functionInvoker',
  imagePuller: 'container-registry.images.puller',
} as const;

/** Where a role is bound. `keys` is the principal's own static-key secret; `function` its own stage's function. */
export type Scope =
  | { kind: 'folder' }
  | { kind: 'bucket'; bucket: BucketName }
  | { kind: 'catalog' }
  | { kind: 'key' }
  | { kind: 'secret'; secret: 'password' | 'keys' }
  | { kind: 'agent' }
  | { kind: 'function' };

export interface RoleGrant {
  role: string;
  scope: Scope;
}

/** Object Storage roles for bucket actions: viewer reads and lists, uploader writes, only editor deletes. */
export function storageRoles(actions: readonly string[]): string[] {
  if (actions.includes('delete')) return [ROLE.storageEditor];
  return [
    ...(actions.includes('read') || actions.includes('list') ? [ROLE.storageViewer] : []),
    ...(actions.includes('write') ? [ROLE.storageUploader] : []),
  ];
}

/** The roles of a workload's own service account: what its code touches through SDKs and Lockbox. */
export function workloadRoles(grants: Grants): RoleGrant[] {
  const out: RoleGrant[] = [];
  const buckets = Object.entries(grants.buckets) as Array<[BucketName, string[]]>;
  for (const [bucket, actions] of buckets)
    for (const role of storageRoles(actions)) out.push({ role, scope: { kind: 'bucket', bucket } });
  out.push({
    role: grants.catalog === 'write' ? ROLE.ydbEditor : ROLE.ydbViewer,
    scope: { kind: 'catalog' },
  });
  if (grants.send.length > 0 || grants.dlq) out.push({ role: ROLE.ymqWriter, scope: { kind: 'folder' } });
  // The buckets are encrypted with the KMS key (SSE-KMS), so reading or writing their objects needs it as
  // much as unwrapping the repository password does.
  const touchesBuckets = buckets.some(([, actions]) => actions.length > 0);
  if (grants.repositoryKey || touchesBuckets)
    out.push({ role: ROLE.kmsEncrypterDecrypter, scope: { kind: 'key' } });
  if (grants.repositoryKey)
    out.push({ role: ROLE.lockboxPayloadViewer, scope: { kind: 'secret', secret: 'password' } });
  // Its static access key (for S3, Message Queue and the document API) is injected from its own secret.
  out.push({ role: ROLE.lockboxPayloadViewer, scope: { kind: 'secret', secret: 'keys' } });
  if (grants.startsAgent) out.push({ role: ROLE.containerInvoker, scope: { kind: 'agent' } });
  return out;
}

/** The agent's roles: its grants, and pulling its image from the folder's Container Registry. */
export function agentRoles(grants: Grants): RoleGrant[] {
  return [...workloadRoles(grants), { role: ROLE.imagePuller, scope: { kind: 'folder' } }];
}

/**
 * The roles of a stage's trigger account, which the triggers (and the API gateway) act as: invoking the
 * stage's function, reading its queues, and putting undeliverable bucket events in a dead-letter queue.
 */
export function triggerRoles(triggers: readonly Trigger[]): RoleGrant[] {
  const out: RoleGrant[] = [{ role: ROLE.functionInvoker, scope: { kind: 'function' } }];
  const readsQueue = triggers.some((t) => t.kind === 'queue');
  if (readsQueue) out.push({ role: ROLE.ymqReader, scope: { kind: 'folder' } });
  // A bucket trigger's dead-letter queue is that of the stage's queue trigger (triggers.ts).
  if (readsQueue && triggers.some((t) => t.kind === 'bucket'))
    out.push({ role: ROLE.ymqWriter, scope: { kind: 'folder' } });
  return out;
}
