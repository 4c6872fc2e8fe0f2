/**
 * The resource types of the Yandex deployment and the labels the writer gives them, once, so that a module
 * referring to another's resource (a function's queue, a trigger's account) cannot spell it differently.
 */
import type { BucketName, QueueName } from '../stages';
import { expr, label, ref } from './terraform-json';

export const TYPE = {
  serviceAccount: 'yandex_iam_service_account',
  staticKey: 'yandex_iam_service_account_static_access_key',
  secret: 'yandex_lockbox_secret',
  secretVersion: 'yandex_lockbox_secret_version',
  kmsKey: 'yandex_kms_symmetric_key',
  bucket: 'yandex_storage_bucket',
  database: 'yandex_ydb_database_serverless',
  /** The document table, through the AWS provider pointed at the document API (see catalog.ts). */
  table: 'aws_dynamodb_table',
  queue: 'yandex_message_queue',
  function: 'yandex_function',
  trigger: 'yandex_function_trigger',
  container: 'yandex_serverless_container',
  gateway: 'yandex_api_gateway',
  folderMember: 'yandex_resourcemanager_folder_iam_member',
  bucketBinding: 'yandex_storage_bucket_iam_binding',
  databaseBinding: 'yandex_ydb_database_iam_binding',
  keyMember: 'yandex_kms_symmetric_key_iam_member',
  keyBinding: 'yandex_kms_symmetric_key_iam_binding',
  secretMember: 'yandex_lockbox_secret_iam_member',
  containerMember: 'yandex_serverless_container_iam_member',
  functionMember: 'yandex_function_iam_member',
  archive: 'archive_file',
} as const;

/** Labels of the single resources. */
export const ONE = {
  key: 'repository',
  catalog: 'catalog',
  password: 'password',
  agent: 'agent',
  gateway: 'api',
} as const;

/** The names every resource is given in the cloud start with this (the `prefix` variable). */
export const PREFIX = expr('var.prefix');
export const FOLDER_ID = expr('var.folder_id');

/** A stage's trigger account: the triggers and the API gateway invoke its function as this account. */
export function triggerAccount(stage: string): string {
  return label(stage, 'trigger');
}

/** The Lockbox secret holding a workload's static access key. */
export function keysSecret(workload: string): string {
  return label(workload, 'keys');
}

export function dlqLabel(queue: QueueName): string {
  return label(queue, 'dlq');
}

export const REF = {
  accountId: (account: string) => ref(TYPE.serviceAccount, account, 'id'),
  bucketName: (bucket: BucketName) => ref(TYPE.bucket, bucket, 'bucket'),
  /** A queue's URL (the resource's id), what SQS clients send to. */
  queueUrl: (queue: string) => ref(TYPE.queue, queue, 'id'),
  /** A queue's ARN (yrn:yc:ymq:…), what redrive policies and triggers name. */
  queueArn: (queue: string) => ref(TYPE.queue, queue, 'arn'),
  functionId: (stage: string) => ref(TYPE.function, stage, 'id'),
  keyId: () => ref(TYPE.kmsKey, ONE.key, 'id'),
  databaseId: () => ref(TYPE.database, ONE.catalog, 'id'),
  documentApiEndpoint: () => ref(TYPE.database, ONE.catalog, 'document_api_endpoint'),
  tableName: () => ref(TYPE.table, ONE.catalog, 'name'),
  containerId: () => ref(TYPE.container, ONE.agent, 'id'),
  containerUrl: () => ref(TYPE.container, ONE.agent, 'url'),
  secretId: (secret: string) => ref(TYPE.secret, secret, 'id'),
};
