/**
 * Writes the role grants of iam.ts as IAM resources. Folder, key, secret, container and function roles are
 * members (one resource per account and role). Bucket and database roles exist in the provider only as
 * bindings, which own the role's whole member list, so they are collected across accounts and written
 * once per role at the end; the landing bucket's uploaders also include `var.landing_writers`, the
 * platform services that drop exports there (with the KMS key's `kms.keys.encrypter`, as the bucket is
 * encrypted).
 */
import type { BucketName } from '../stages';
import { ROLE, type RoleGrant } from './iam';
import { FOLDER_ID, keysSecret, ONE, REF, TYPE } from './resources';
import { expr, label, type TerraformDocument, type TfBlock } from './terraform-json';

/** Who is granted: a service account, and the workload and stage whose secret and function it may use. */
export interface Principal {
  account: string;
  /** Its static-key secret is `keysSecret(workload)`. */
  workload?: string;
  /** Its `function` scope is this stage's function. */
  stage?: string;
}

const KMS_ENCRYPTER = 'kms.keys.encrypter';
const LANDING_WRITERS = 'var.landing_writers';

function member(account: string): string {
  return `serviceAccount:${REF.accountId(account)}`;
}

export class Access {
  private readonly bucketRoles = new Map<string, { bucket: BucketName; role: string; members: string[] }>();
  private readonly databaseRoles = new Map<string, string[]>();

  constructor(private readonly doc: TerraformDocument) {}

  grant(p: Principal, grants: readonly RoleGrant[]): void {
    for (const { role, scope } of grants) {
      const body = { role, member: member(p.account) };
      const name = label(p.account, role);
      switch (scope.kind) {
        case 'folder':
          this.doc.resource(TYPE.folderMember, name, { folder_id: FOLDER_ID, ...body });
          break;
        case 'bucket': {
          const key = `${scope.bucket} ${role}`;
          const entry = this.bucketRoles.get(key) ?? { bucket: scope.bucket, role, members: [] };
          entry.members.push(body.member);
          this.bucketRoles.set(key, entry);
          break;
        }
        case 'catalog':
          this.databaseRoles.set(role, [...(this.databaseRoles.get(role) ?? []), body.member]);
          break;
        case 'key':
          this.doc.resource(TYPE.keyMember, name, { symmetric_key_id: REF.keyId(), ...body });
          break;
        case 'secret': {
          const secret =
            scope.secret === 'password' ? ONE.password : keysSecret(required(p.workload, p, 'workload'));
          this.doc.resource(TYPE.secretMember, label(p.account, scope.secret), {
            secret_id: REF.secretId(secret),
            ...body,
          });
          break;
        }
        case 'agent':
          this.doc.resource(TYPE.containerMember, name, { container_id: REF.containerId(), ...body });
          break;
        case 'function':
          this.doc.resource(TYPE.functionMember, name, {
            function_id: REF.functionId(required(p.stage, p, 'stage')),
            ...body,
          });
          break;
      }
    }
  }

  /** Writes the collected bucket and database bindings, and the landing writers' grants. */
  finish(): void {
    const landingUpload = `landing ${ROLE.storageUploader}`;
    if (!this.bucketRoles.has(landingUpload))
      this.bucketRoles.set(landingUpload, { bucket: 'landing', role: ROLE.storageUploader, members: [] });
    for (const [key, { bucket, role, members }] of this.bucketRoles) {
      const body: TfBlock = { bucket: REF.bucketName(bucket), role, members };
      if (key === landingUpload) Object.assign(body, withLandingWriters(members));
      this.doc.resource(TYPE.bucketBinding, label(bucket, role), body);
    }
    for (const [role, members] of this.databaseRoles)
      this.doc.resource(TYPE.databaseBinding, label(ONE.catalog, role), {
        database_id: REF.databaseId(),
        role,
        members,
      });
    this.doc.resource(TYPE.keyBinding, label('landing_writers', KMS_ENCRYPTER), {
      count: expr(`length(${LANDING_WRITERS}) > 0 ? 1 : 0`),
      symmetric_key_id: REF.keyId(),
      role: KMS_ENCRYPTER,
      members: expr(LANDING_WRITERS),
    });
  }
}

/** The members of the landing uploaders' binding: our accounts and the platform's; none → no binding. */
function withLandingWriters(members: readonly string[]): TfBlock {
  if (members.length === 0)
    return { count: expr(`length(${LANDING_WRITERS}) > 0 ? 1 : 0`), members: expr(LANDING_WRITERS) };
  return { members: expr(`concat(${JSON.stringify(members)}, ${LANDING_WRITERS})`) };
}

function required(value: string | undefined, p: Principal, what: string): string {
  if (!value) throw new Error(`principal ${p.account} has a grant that needs its ${what}`);
  return value;
}
