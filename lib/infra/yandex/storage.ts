/**
 * The KMS key and the two buckets. The repository bucket is versioned (a deleted or overwritten object
 * stays restorable for `repository_noncurrent_days`), encrypted by default with the KMS key (SSE-KMS, the
 * only server-side encryption Object Storage offers), tiered by lifecycle (packs only: the small index,
 * snapshot, key and lock objects are read on every run and stay STANDARD), closed to anonymous access and,
 * with `--object-lock`, write-once for a default retention. The landing bucket holds exports until they
 * are ingested, encrypted the same way, and expires what is left.
 *
 * Object Storage has no bucket-level "TLS only" switch in the provider (its `https` block is a website
 * certificate): the clients are pointed at the https endpoint instead (see docs/deploy-yandex.md).
 */
import { resourceName } from '../stages';
import { FOLDER_ID, ONE, PREFIX, REF, TYPE } from './resources';
import { expr, type TerraformDocument, type TfBlock } from './terraform-json';

export const KEY_ALGORITHM = 'AES_256';
/** A new primary key version every year; old versions still decrypt. */
export const KEY_ROTATION_PERIOD = '8760h';
/** Packs are 16–64 MiB; index, snapshot, key and lock objects are far smaller. */
export const TIERING_MIN_OBJECT_BYTES = 1024 * 1024;
export const ABORT_MULTIPART_DAYS = 7;

/** The bucket's name: the folder id makes it unique across Object Storage, where bucket names are global. */
export function bucketName(bucket: 'repository' | 'landing'): string {
  return resourceName(PREFIX, `${bucket}-${FOLDER_ID}`);
}

export function addKey(doc: TerraformDocument): void {
  doc.resource(TYPE.kmsKey, ONE.key, {
    name: resourceName(PREFIX, 'repository'),
    folder_id: FOLDER_ID,
    description: 'zapas: bucket encryption (SSE-KMS) and the repository password secret',
    default_algorithm: KEY_ALGORITHM,
    rotation_period: KEY_ROTATION_PERIOD,
    deletion_protection: true,
    // Destroying the key destroys every backup sealed under it.
    lifecycle: { prevent_destroy: true },
  });
}

const closed: TfBlock = {
  anonymous_access_flags: { read: false, list: false, config_read: false },
  force_destroy: false,
};

function encrypted(): TfBlock {
  return {
    server_side_encryption_configuration: {
      rule: {
        apply_server_side_encryption_by_default: { kms_master_key_id: REF.keyId(), sse_algorithm: 'aws:kms' },
      },
    },
  };
}

export function addBuckets(doc: TerraformDocument, opts: { objectLock: boolean }): void {
  doc.resource(TYPE.bucket, 'repository', {
    bucket: bucketName('repository'),
    folder_id: FOLDER_ID,
    ...closed,
    versioning: { enabled: true },
    ...encrypted(),
    lifecycle_rule: [
      {
        id: 'tier-packs',
        enabled: true,
        filter: { object_size_greater_than: TIERING_MIN_OBJECT_BYTES },
        transition: [
          { days: expr('var.repository_cold_after_days'), storage_class: 'COLD' },
          { days: expr('var.repository_ice_after_days'), storage_class: 'ICE' },
        ],
      },
      {
        id: 'expire-noncurrent',
        enabled: true,
        prefix: '',
        noncurrent_version_expiration: { days: expr('var.repository_noncurrent_days') },
        expiration: { expired_object_delete_marker: true },
        abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS,
      },
    ],
    ...(opts.objectLock
      ? {
          object_lock_configuration: {
            object_lock_enabled: 'Enabled',
            rule: {
              default_retention: { mode: expr('var.object_lock_mode'), days: expr('var.object_lock_days') },
            },
          },
        }
      : {}),
    lifecycle: { prevent_destroy: true },
  });
  doc.resource(TYPE.bucket, 'landing', {
    bucket: bucketName('landing'),
    folder_id: FOLDER_ID,
    ...closed,
    ...encrypted(),
    lifecycle_rule: [
      {
        id: 'expire-exports',
        enabled: true,
        prefix: '',
        expiration: { days: expr('var.landing_expiry_days') },
        abort_incomplete_multipart_upload_days: ABORT_MULTIPART_DAYS,
      },
    ],
  });
}
