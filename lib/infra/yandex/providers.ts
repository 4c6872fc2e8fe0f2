/**
 * The configuration's frame: required providers, their settings, and the variables an operator sets
 * (`terraform apply -var cloud_id=… -var folder_id=… -var agent_image=…`). No credential is a variable:
 * the Yandex provider takes YC_TOKEN (or a key file), Message Queue resources the operator's static key
 * (YC_MESSAGE_QUEUE_ACCESS_KEY/_SECRET_KEY), the AWS provider (document table) AWS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY,
 * so none of them reaches this file or Terraform's variables.
 */
import { DEFAULT_ZONE, YANDEX_REGION } from './limits';
import { ONE, REF, TYPE } from './resources';
import { expr, ref, type TerraformDocument } from './terraform-json';

/** Provider versions: the Yandex one with bucket IAM bindings (0.145) and static keys written to Lockbox. */
export const PROVIDERS = {
  yandex: { source: 'yandex-cloud/yandex', version: '~> 0.145' },
  aws: { source: 'hashicorp/aws', version: '~> 5.0' },
  archive: { source: 'hashicorp/archive', version: '~> 2.4' },
} as const;

/**
 * Names are `<prefix>-<part>`: 2–31 lowercase letters, digits and dashes, so that the longest name, the
 * repository bucket's `<prefix>-repository-<folder id>`, stays within Object Storage's 63 characters.
 */
export const PREFIX_PATTERN = /^[a-z][a-z0-9-]{0,29}[a-z0-9]$/;

/** Defaults of the tunable variables, each overridable at apply time. */
export const DEFAULTS = {
  /** Packs move to COLD after this many days, and to ICE (billed 12 months at least) after the second. */
  coldAfterDays: 30,
  iceAfterDays: 365,
  /** A version that prune deleted (or overwrote) stays restorable this long, then expires. */
  noncurrentDays: 30,
  /** Exports in the landing bucket are ingested within minutes; what is left expires. */
  landingExpiryDays: 7,
  /** The agent container's task timeout (duration format); longer runs need the long-lived preview. */
  agentTimeout: '600s',
  /** Object Lock's default retention, with --object-lock: GOVERNANCE can be lifted by an admin. */
  objectLockMode: 'GOVERNANCE',
  objectLockDays: 30,
} as const;

export interface FrameOptions {
  prefix: string;
  objectLock: boolean;
}

/** Adds the terraform block, the providers and the variables. */
export function addFrame(doc: TerraformDocument, opts: FrameOptions): void {
  doc.settings({ required_version: '>= 1.5.0', required_providers: { ...PROVIDERS } });
  doc.provider('yandex', {
    cloud_id: expr('var.cloud_id'),
    folder_id: expr('var.folder_id'),
    zone: expr('var.zone'),
  });
  // Yandex's documented way to make a document table (yandex.cloud/docs/ydb/terraform/dynamodb-tables).
  doc.provider('aws', {
    region: YANDEX_REGION,
    endpoints: { dynamodb: REF.documentApiEndpoint() },
    skip_credentials_validation: true,
    skip_metadata_api_check: true,
    skip_region_validation: true,
    skip_requesting_account_id: true,
  });

  doc.variable('cloud_id', { type: 'string', description: 'the cloud to deploy into' });
  doc.variable('folder_id', {
    type: 'string',
    description: 'the folder to deploy into: a folder of its own (Message Queue roles are folder-wide)',
  });
  doc.variable('zone', { type: 'string', default: DEFAULT_ZONE, description: 'default availability zone' });
  doc.variable('prefix', {
    type: 'string',
    default: opts.prefix,
    description: 'every name starts with it: <prefix>-ingest, <prefix>-repository-<folder id>, …',
    validation: {
      condition: expr(`can(regex("${PREFIX_PATTERN.source}", var.prefix))`),
      error_message: 'prefix: 2-31 lowercase letters, digits and dashes, starting with a letter.',
    },
  });
  doc.variable('agent_image', {
    type: 'string',
    description:
      'the agent image built from functions/agent/Dockerfile, in this folder’s Container Registry (cr.yandex/<registry id>/zapas-agent:<tag>)',
  });
  doc.variable('agent_timeout', {
    type: 'string',
    default: DEFAULTS.agentTimeout,
    description: 'agent task timeout',
  });
  doc.variable('landing_writers', {
    type: 'list(string)',
    default: [],
    description:
      'members (serviceAccount:<id>, …) of the platform services that drop exports in the landing bucket',
  });
  const days = (name: string, value: number, description: string) =>
    doc.variable(name, { type: 'number', default: value, description });
  days(
    'repository_cold_after_days',
    DEFAULTS.coldAfterDays,
    'packs move to COLD storage after this many days',
  );
  days('repository_ice_after_days', DEFAULTS.iceAfterDays, 'packs move to ICE storage after this many days');
  days('repository_noncurrent_days', DEFAULTS.noncurrentDays, 'deleted versions stay restorable this long');
  days('landing_expiry_days', DEFAULTS.landingExpiryDays, 'landing objects expire after this many days');
  if (opts.objectLock) {
    doc.variable('object_lock_mode', {
      type: 'string',
      default: DEFAULTS.objectLockMode,
      description: 'Object Lock default retention mode: GOVERNANCE or COMPLIANCE',
      validation: {
        condition: expr('contains(["GOVERNANCE", "COMPLIANCE"], var.object_lock_mode)'),
        error_message: 'object_lock_mode: GOVERNANCE or COMPLIANCE.',
      },
    });
    days('object_lock_days', DEFAULTS.objectLockDays, 'Object Lock default retention in days');
  }
}

/** What `terraform output` shows after apply. */
export function addOutputs(doc: TerraformDocument, queues: readonly string[], gateway: boolean): void {
  if (gateway) doc.output('api_url', { value: `https://${ref(TYPE.gateway, ONE.gateway, 'domain')}/v1` });
  doc.output('repository_bucket', { value: REF.bucketName('repository') });
  doc.output('landing_bucket', { value: REF.bucketName('landing') });
  doc.output('document_api_endpoint', { value: REF.documentApiEndpoint() });
  doc.output('password_secret_id', {
    value: REF.secretId(ONE.password),
    description: 'the repository password: yc lockbox payload get --id <this> (for zapas init and restores)',
  });
  doc.output('queue_urls', {
    value: expr(`tomap({ ${queues.map((q) => `${q} = ${TYPE.queue}.${q}.id`).join(', ')} })`),
  });
}
