import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type CreateTableCommandInput,
  DynamoDBClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { DynamoCatalog } from '../../lib/catalog/dynamo-catalog';
import { ENV, queueUrlEnv } from '../../lib/infra/env';
import { AGENT, QUEUES, STAGES, type StageSpec } from '../../lib/infra/stages';
import { CATALOG_TABLE } from '../../lib/infra/yandex/catalog';
import { AWS_KEY_ENV } from '../../lib/infra/yandex/credentials';
import { environmentBytes, REFERENCE_ALLOWANCE_BYTES } from '../../lib/infra/yandex/environment';
import { DeploymentError } from '../../lib/infra/yandex/errors';
import {
  FUNCTION_ENV_LIMIT_BYTES,
  FUNCTION_TIMEOUT_LIMIT_SECONDS,
  TRIGGER_CUTOFF_LIMIT_SECONDS,
} from '../../lib/infra/yandex/limits';
import { yandexTerraform } from '../../lib/infra/yandex/terraform-writer';
import { BATCH_CUTOFF_SECONDS } from '../../lib/infra/yandex/triggers';
import { parseConfig } from '../../lib/pipeline/config/load';

// biome-ignore lint/suspicious/noExplicitAny: the Terraform document is JSON, checked field by field
type Tf = any;

/** A Terraform interpolation, as the document writes it. */
const tf = (expression: string) => `\${${expression}}`;
const EXAMPLE = join(__dirname, '..', '..', 'examples', 'zapas.yaml');
const config = parseConfig(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
const build = (objectLock = false): Tf => yandexTerraform({ config, prefix: 'zapas', objectLock }).document;
const doc = build();
const resources = (type: string): Record<string, Tf> => doc.resource[type] ?? {};
const account = (name: string) => `serviceAccount:\${yandex_iam_service_account.${name}.id}`;
const bindings = (role: string) =>
  Object.values(resources('yandex_storage_bucket_iam_binding')).filter((b) => b.role === role);

/** Every `${…}` span of a string (nested ones included), escaped `$${` skipped. */
function interpolations(text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '$' || text[i + 1] !== '{' || text[i - 1] === '$') continue;
    let depth = 0;
    for (let j = i + 1; j < text.length; j++) {
      if (text[j] === '{') depth++;
      else if (text[j] === '}' && --depth === 0) {
        out.push(text.slice(i + 2, j));
        break;
      }
    }
  }
  return out;
}

/** What an interpolation may name: a data source, a resource, a variable, the module's folder. */
const REFERENCE =
  /\b(data\.[a-z_]+\.[A-Za-z0-9_]+|(?:yandex|aws)_[a-z_]+\.[A-Za-z0-9_]+|var\.[a-z_]+|path\.module)/g;

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value && typeof value === 'object') return Object.values(value).flatMap(strings);
  return [];
}

describe('the Terraform document for Yandex Cloud', () => {
  it('requires the Yandex provider and declares the variables with their defaults', () => {
    expect(doc.terraform.required_providers.yandex.source).toBe('yandex-cloud/yandex');
    expect(doc.provider.yandex).toEqual({
      cloud_id: tf('var.cloud_id'),
      folder_id: tf('var.folder_id'),
      zone: tf('var.zone'),
    });
    expect(doc.variable.zone.default).toBe('ru-central1-a');
    expect(doc.variable.prefix.default).toBe('zapas');
    expect(doc.variable.cloud_id.default).toBeUndefined();
    expect(doc.variable.folder_id.default).toBeUndefined();
    expect(doc.provider.aws.endpoints.dynamodb).toBe(
      tf('yandex_ydb_database_serverless.catalog.document_api_endpoint'),
    );
  });

  it('refers only to resources, data sources and variables it defines', () => {
    const defined = new Set<string>();
    for (const [type, byName] of Object.entries<Tf>(doc.resource))
      for (const name of Object.keys(byName)) defined.add(`${type}.${name}`);
    for (const [type, byName] of Object.entries<Tf>(doc.data))
      for (const name of Object.keys(byName)) defined.add(`data.${type}.${name}`);
    for (const name of Object.keys(doc.variable)) defined.add(`var.${name}`);
    defined.add('path.module');
    const wrong: string[] = [];
    for (const text of strings(doc))
      for (const e of interpolations(text))
        for (const m of e.matchAll(REFERENCE)) if (!defined.has(m[1]!)) wrong.push(m[1]!);
    for (const byName of Object.values<Tf>(doc.resource))
      for (const body of Object.values<Tf>(byName))
        for (const dep of body.depends_on ?? []) if (!defined.has(dep)) wrong.push(dep);
    expect(wrong).toEqual([]);
  });

  describe('functions', () => {
    it.each(STAGES.map((s) => [s.name, s] as const))(
      '%s: the table’s memory and timeout, its bundle, its account',
      (name, stage) => {
        const fn = resources('yandex_function')[name];
        expect(fn).toMatchObject({
          name: `\${var.prefix}-${name}`,
          runtime: 'nodejs22',
          entrypoint: 'index.handler',
          memory: stage.memoryMiB,
          execution_timeout: String(stage.timeoutSeconds),
          service_account_id: `\${yandex_iam_service_account.${name}.id}`,
          user_hash: `\${data.archive_file.${name}.output_sha256}`,
          content: { zip_filename: `\${data.archive_file.${name}.output_path}` },
        });
        expect(doc.data.archive_file[name]).toEqual({
          type: 'zip',
          source_dir: `\${path.module}/functions/${name}`,
          output_path: `\${path.module}/build/${name}.zip`,
        });
      },
    );

    it('warns about each timeout over Cloud Functions’ 10 minutes', () => {
      const { warnings } = yandexTerraform({ config, prefix: 'zapas', objectLock: false });
      const long = STAGES.filter((s) => s.timeoutSeconds > FUNCTION_TIMEOUT_LIMIT_SECONDS).map((s) => s.name);
      expect(warnings).toHaveLength(long.length);
      for (const name of long) expect(warnings.join('\n')).toContain(`${name}: a `);
    });

    it.each(STAGES.map((s) => [s.name, s] as const))(
      '%s: environment by ENV names, with Yandex endpoints',
      (name, stage) => {
        const env: Record<string, string> = resources('yandex_function')[name].environment;
        expect(env).toMatchObject({
          [ENV.region]: 'ru-central1',
          [ENV.s3Endpoint]: 'https://storage.yandexcloud.net',
          [ENV.sqsEndpoint]: 'https://message-queue.api.cloud.yandex.net',
          [ENV.dynamodbEndpoint]: tf('yandex_ydb_database_serverless.catalog.document_api_endpoint'),
          [ENV.catalogTable]: tf('aws_dynamodb_table.catalog.name'),
        });
        expect(JSON.parse(env[ENV.config]!)).toEqual(config);
        const known = new Set([...Object.values(ENV), ...QUEUES.map((q) => queueUrlEnv(q.name))]);
        expect(Object.keys(env).filter((k) => !known.has(k))).toEqual([]);
        for (const q of stage.grants.send)
          expect(env[queueUrlEnv(q)]).toBe(`\${yandex_message_queue.${q}.id}`);
        expect(Object.keys(env).filter((k) => k.startsWith('ZAPAS_QUEUE_'))).toHaveLength(
          stage.grants.send.length,
        );
        expect(ENV.repositoryBucket in env).toBe(Boolean(stage.grants.buckets.repository));
        expect(ENV.landingBucket in env).toBe(Boolean(stage.grants.buckets.landing));
        expect(ENV.agentUrl in env).toBe(Boolean(stage.grants.startsAgent));
        const queue = stage.triggers.find((t) => t.kind === 'queue');
        if (stage.grants.dlq && queue?.kind === 'queue')
          expect(env[ENV.dlqUrl]).toBe(`\${yandex_message_queue.${queue.queue}_dlq.id}`);
        else expect(ENV.dlqUrl in env).toBe(false);
        expect(ENV.password in env).toBe(false);
      },
    );

    it('escapes configuration text that Terraform would read as a template', () => {
      const text = readFileSync(EXAMPLE, 'utf8').replace(
        'excludes: ["*.tmp"]',
        `excludes: ["\${HOME}/x", "%{y}"]`,
      );
      const escaped: Tf = yandexTerraform({
        config: parseConfig(text),
        prefix: 'zapas',
        objectLock: false,
      }).document;
      const value: string = escaped.resource.yandex_function.ingest.environment[ENV.config];
      expect(value).toContain(`"$\${HOME}/x"`);
      expect(value).toContain('"%%{y}"');
      expect(interpolations(value)).toEqual([]);
    });

    it('refuses a configuration whose environment is over 4 KB, naming the function', () => {
      const many = Array.from(
        { length: 40 },
        (_, i) =>
          `  s${i}:\n    type: files\n    paths: [/srv/data/source-number-${i}]\n    repository: main\n    dataClass: game-content\n`,
      ).join('');
      const big = parseConfig(
        `version: 1\nrepositories:\n  main: { url: ./repo, residency: RU }\nsources:\n${many}`,
      );
      expect(() => yandexTerraform({ config: big, prefix: 'zapas', objectLock: false })).toThrow(
        DeploymentError,
      );
      expect(() => yandexTerraform({ config: big, prefix: 'zapas', objectLock: false })).toThrow(
        /orchestrate: its environment would be about \d+ bytes, over Cloud Functions' 4096/,
      );
    });

    it('counts interpolated values at their allowance', () => {
      expect(environmentBytes({ A: 'xy', B: tf('q.id'), C: `$\${lit}` })).toBe(
        1 + 2 + 1 + REFERENCE_ALLOWANCE_BYTES + 1 + 6,
      );
      for (const fn of Object.values<Tf>(resources('yandex_function')))
        expect(environmentBytes(fn.environment)).toBeLessThanOrEqual(FUNCTION_ENV_LIMIT_BYTES);
    });
  });

  describe('queues', () => {
    it.each(QUEUES.map((q) => [q.name, q] as const))(
      '%s: a queue and its DLQ, redriven after maxReceives',
      (name, spec) => {
        const queue = resources('yandex_message_queue')[name];
        const dlq = resources('yandex_message_queue')[`${name}_dlq`];
        expect(queue).toMatchObject({
          name: `\${var.prefix}-${name}`,
          visibility_timeout_seconds: spec.visibilitySeconds,
          message_retention_seconds: spec.retentionDays * 86400,
        });
        expect(dlq).toMatchObject({
          name: `\${var.prefix}-${name}-dlq`,
          message_retention_seconds: spec.retentionDays * 86400,
        });
        expect(dlq.redrive_policy).toBeUndefined();
        expect(JSON.parse(queue.redrive_policy)).toEqual({
          deadLetterTargetArn: `\${yandex_message_queue.${name}_dlq.arn}`,
          maxReceiveCount: spec.maxReceives,
        });
      },
    );

    it('no queue is FIFO (triggers take standard queues only)', () => {
      for (const q of Object.values<Tf>(resources('yandex_message_queue')))
        expect(q.fifo_queue).toBeUndefined();
    });
  });

  describe('triggers', () => {
    const triggers = Object.values<Tf>(resources('yandex_function_trigger'));
    const of = (stage: string) => triggers.filter((t) => t.function.id === `\${yandex_function.${stage}.id}`);

    it('timers carry the table’s cron in Yandex’s six fields', () => {
      expect(of('orchestrate').find((t) => t.timer)?.timer).toEqual({ cron_expression: '* * * * ? *' });
      expect(of('purge').find((t) => t.timer)?.timer).toEqual({ cron_expression: '0 1 * * ? *' });
    });

    it('queue triggers read the queue by ARN, as the stage’s trigger account, in the table’s batches', () => {
      for (const stage of STAGES)
        for (const t of stage.triggers) {
          if (t.kind !== 'queue') continue;
          const trigger = of(stage.name).find((x) => x.message_queue)!;
          expect(trigger.message_queue).toEqual({
            queue_id: `\${yandex_message_queue.${t.queue}.arn}`,
            service_account_id: `\${yandex_iam_service_account.${stage.name}_trigger.id}`,
            batch_size: String(t.batchSize),
            batch_cutoff: String(BATCH_CUTOFF_SECONDS),
          });
          expect(trigger.function.service_account_id).toBe(
            `\${yandex_iam_service_account.${stage.name}_trigger.id}`,
          );
        }
      expect(BATCH_CUTOFF_SECONDS).toBeLessThanOrEqual(TRIGGER_CUTOFF_LIMIT_SECONDS);
    });

    it('the landing bucket trigger fires on created exports and dead-letters what it cannot deliver', () => {
      const t = of('orchestrate').find((x) => x.object_storage)!;
      expect(t.object_storage).toMatchObject({
        bucket_id: tf('yandex_storage_bucket.landing.bucket'),
        prefix: 'exports/',
        create: true,
      });
      expect(t.dlq.queue_id).toBe(tf('yandex_message_queue.requests_dlq.arn'));
    });

    it('there is one trigger per non-HTTP trigger of the table', () => {
      const expected = STAGES.flatMap((s) => s.triggers.filter((t) => t.kind !== 'http'));
      expect(triggers).toHaveLength(expected.length);
    });
  });

  describe('buckets and key', () => {
    const repository = resources('yandex_storage_bucket').repository;
    const landing = resources('yandex_storage_bucket').landing;

    it('the KMS key rotates yearly and is protected', () => {
      expect(resources('yandex_kms_symmetric_key').repository).toMatchObject({
        default_algorithm: 'AES_256',
        rotation_period: '8760h',
        deletion_protection: true,
      });
    });

    it.each([
      ['repository', repository],
      ['landing', landing],
    ])('%s: SSE-KMS with the key, closed to anonymous access, globally unique name', (name, bucket) => {
      expect(bucket.server_side_encryption_configuration).toEqual({
        rule: {
          apply_server_side_encryption_by_default: {
            kms_master_key_id: tf('yandex_kms_symmetric_key.repository.id'),
            sse_algorithm: 'aws:kms',
          },
        },
      });
      expect(bucket.anonymous_access_flags).toEqual({ read: false, list: false, config_read: false });
      expect(bucket.bucket).toBe(`\${var.prefix}-${name}-\${var.folder_id}`);
      expect(bucket.acl).toBeUndefined();
    });

    it('the repository is versioned, tiers packs to COLD then ICE, expires old versions', () => {
      expect(repository.versioning).toEqual({ enabled: true });
      const tier = repository.lifecycle_rule.find((r: Tf) => r.transition);
      expect(tier.filter.object_size_greater_than).toBeGreaterThan(0);
      expect(tier.transition.map((t: Tf) => t.storage_class)).toEqual(['COLD', 'ICE']);
      const old = repository.lifecycle_rule.find((r: Tf) => r.noncurrent_version_expiration);
      expect(old.noncurrent_version_expiration.days).toBe(tf('var.repository_noncurrent_days'));
      expect(repository.lifecycle.prevent_destroy).toBe(true);
      expect(repository.object_lock_configuration).toBeUndefined();
      expect(doc.variable.object_lock_days).toBeUndefined();
    });

    it('--object-lock adds a default retention from variables', () => {
      const locked = build(true);
      expect(locked.resource.yandex_storage_bucket.repository.object_lock_configuration).toEqual({
        object_lock_enabled: 'Enabled',
        rule: { default_retention: { mode: tf('var.object_lock_mode'), days: tf('var.object_lock_days') } },
      });
      expect(locked.variable.object_lock_mode.default).toBe('GOVERNANCE');
      expect(locked.resource.yandex_storage_bucket.repository.versioning.enabled).toBe(true);
    });

    it('landing objects expire', () => {
      expect(landing.lifecycle_rule[0].expiration).toEqual({ days: tf('var.landing_expiry_days') });
      expect(landing.versioning).toBeUndefined();
    });
  });

  describe('catalog', () => {
    it('is a serverless YDB database with the document table the adapter creates', async () => {
      expect(resources('yandex_ydb_database_serverless').catalog).toMatchObject({
        name: `${tf('var.prefix')}-catalog`,
        deletion_protection: true,
      });
      const table = resources('aws_dynamodb_table').catalog;
      let created: CreateTableCommandInput | undefined;
      const fake = {
        send: async (command: { constructor: { name: string }; input: unknown }) => {
          if (command.constructor.name === 'DescribeTableCommand')
            throw new ResourceNotFoundException({ message: 'no table', $metadata: {} });
          created = command.input as CreateTableCommandInput;
          return {};
        },
      };
      const client = new DynamoDBClient({ region: 'ru-central1', endpoint: 'http://127.0.0.1:9' });
      await new DynamoCatalog(client, 'catalog').ensureTable(fake as unknown as DynamoDBClient);
      client.destroy();
      expect(created).toBeDefined();
      const key = (name: string) => created!.KeySchema!.find((k) => k.KeyType === name)!.AttributeName;
      expect([table.hash_key, table.range_key]).toEqual([key('HASH'), key('RANGE')]);
      expect(table.attribute).toEqual(
        created!.AttributeDefinitions!.map((a) => ({ name: a.AttributeName, type: a.AttributeType })),
      );
      const gsi = created!.GlobalSecondaryIndexes![0]!;
      expect(table.global_secondary_index).toEqual({
        name: gsi.IndexName,
        hash_key: gsi.KeySchema!.find((k) => k.KeyType === 'HASH')!.AttributeName,
        range_key: gsi.KeySchema!.find((k) => k.KeyType === 'RANGE')!.AttributeName,
        projection_type: gsi.Projection!.ProjectionType,
      });
      expect(table.billing_mode).toBe(created!.BillingMode);
      expect(table.ttl).toEqual({ attribute_name: CATALOG_TABLE.ttlAttribute, enabled: true });
      expect(table.depends_on).toEqual(['yandex_ydb_database_serverless.catalog']);
    });

    it('read-write workloads are ydb.editor on the database, nothing is folder-wide', () => {
      const editors = resources('yandex_ydb_database_iam_binding').catalog_ydb_editor;
      expect(editors.members.sort()).toEqual([...STAGES.map((s) => s.name), 'agent'].map(account).sort());
      const folderRoles = Object.values<Tf>(resources('yandex_resourcemanager_folder_iam_member')).map(
        (m) => m.role,
      );
      expect(folderRoles.filter((r) => r.startsWith('ydb.') || r.startsWith('storage.'))).toEqual([]);
    });
  });

  describe('API gateway', () => {
    const spec = JSON.parse(resources('yandex_api_gateway').api.spec);

    it('routes every method of /v1/{proxy+} to the api function as the api trigger account', () => {
      const route = spec.paths['/v1/{proxy+}']['x-yc-apigateway-any-method'];
      expect(spec.openapi).toMatch(/^3\./);
      expect(route.parameters).toEqual([
        { name: 'proxy', in: 'path', required: true, schema: { type: 'string' } },
      ]);
      expect(route['x-yc-apigateway-integration']).toEqual({
        type: 'cloud_functions',
        function_id: tf('yandex_function.api.id'),
        service_account_id: tf('yandex_iam_service_account.api_trigger.id'),
        payload_format_version: '1.0',
      });
      expect(spec.paths['/v1']['x-yc-apigateway-any-method']['x-yc-apigateway-integration'].function_id).toBe(
        tf('yandex_function.api.id'),
      );
    });

    it('the api trigger account may invoke the api function, and nothing else', () => {
      const members = Object.values<Tf>(resources('yandex_function_iam_member')).filter(
        (m) => m.member === account('api_trigger'),
      );
      expect(members).toEqual([
        {
          function_id: tf('yandex_function.api.id'),
          role: 'functions.functionInvoker',
          member: account('api_trigger'),
        },
      ]);
    });
  });

  describe('least privilege in the document', () => {
    const allMembers = (role?: string) =>
      Object.values<Tf>(resources('yandex_storage_bucket_iam_binding'))
        .filter((b) => !role || b.role === role)
        .flatMap((b) => (Array.isArray(b.members) ? b.members : []));

    it('the api account views and uploads to the repository bucket only, and its one folder role is ymq.writer', () => {
      expect(allMembers('storage.editor')).not.toContain(account('api'));
      const onBucket = Object.values<Tf>(resources('yandex_storage_bucket_iam_binding'))
        .filter((b) => Array.isArray(b.members) && b.members.includes(account('api')))
        .map((b) => `${b.bucket}:${b.role}`);
      expect(onBucket.sort()).toEqual([
        `${tf('yandex_storage_bucket.repository.bucket')}:storage.uploader`,
        `${tf('yandex_storage_bucket.repository.bucket')}:storage.viewer`,
      ]);
      const folder = Object.values<Tf>(resources('yandex_resourcemanager_folder_iam_member'));
      expect(folder.filter((m) => m.member === account('api')).map((m) => m.role)).toEqual(['ymq.writer']);
    });

    it('verify has no storage.editor: it cannot delete', () => {
      expect(allMembers('storage.editor')).not.toContain(account('verify'));
      expect(bindings('storage.viewer').some((b) => b.members.includes(account('verify')))).toBe(true);
    });

    it('only orchestrate may invoke the agent container', () => {
      const invokers = Object.values<Tf>(resources('yandex_serverless_container_iam_member'));
      expect(invokers).toEqual([
        {
          container_id: tf('yandex_serverless_container.agent.id'),
          role: 'serverless.containers.invoker',
          member: account('orchestrate'),
        },
      ]);
    });

    it('the KMS key is granted to the repositoryKey workloads only', () => {
      const members = Object.values<Tf>(resources('yandex_kms_symmetric_key_iam_member')).map(
        (m) => m.member,
      );
      const expected = [...STAGES, AGENT].filter((s) => s.grants.repositoryKey).map((s) => account(s.name));
      expect(members.sort()).toEqual(expected.sort());
    });

    it('Message Queue roles are on the folder (no per-queue roles exist), reading only for trigger accounts', () => {
      const readers = Object.values<Tf>(resources('yandex_resourcemanager_folder_iam_member'))
        .filter((m) => m.role === 'ymq.reader')
        .map((m) => m.member);
      expect(readers.every((m) => m.endsWith('_trigger.id}'))).toBe(true);
    });

    it('platform services may upload exports to landing only when listed in landing_writers', () => {
      const upload = resources('yandex_storage_bucket_iam_binding').landing_storage_uploader;
      expect(upload).toMatchObject({
        members: tf('var.landing_writers'),
        count: tf('length(var.landing_writers) > 0 ? 1 : 0'),
      });
    });
  });

  describe('secrets', () => {
    const text = JSON.stringify(doc);

    it('no secret value is in the document: keys and password come from Lockbox', () => {
      expect(text).not.toContain('text_value');
      const keys = (v: unknown): string[] =>
        Array.isArray(v)
          ? v.flatMap(keys)
          : v && typeof v === 'object'
            ? Object.entries(v).flatMap(([k, x]) => [k, ...keys(x)])
            : [];
      const credentialFields = ['access_key', 'secret_key', 'token', 'storage_secret_key', 'ymq_secret_key'];
      expect(keys(doc).filter((k) => credentialFields.includes(k))).toEqual([]);
      expect(resources('yandex_lockbox_secret').password.password_payload_specification).toMatchObject({
        password_key: 'password',
      });
      expect(resources('yandex_lockbox_secret_version').password).toEqual({
        secret_id: tf('yandex_lockbox_secret.password.id'),
      });
      for (const key of Object.values<Tf>(resources('yandex_iam_service_account_static_access_key')))
        expect(key.output_to_lockbox).toMatchObject({
          entry_for_access_key: 'access_key',
          entry_for_secret_key: 'secret_key',
        });
    });

    it.each([...STAGES, AGENT].map((s) => [s.name, s] as const))(
      '%s: its own key as AWS_* and the password only with repositoryKey',
      (name, w) => {
        const body =
          name === 'agent'
            ? resources('yandex_serverless_container').agent
            : resources('yandex_function')[name];
        const byVariable = Object.fromEntries(body.secrets.map((s: Tf) => [s.environment_variable, s]));
        expect(byVariable[AWS_KEY_ENV.accessKey]).toEqual({
          id: `\${yandex_lockbox_secret.${name}_keys.id}`,
          version_id: `\${yandex_iam_service_account_static_access_key.${name}.output_to_lockbox_version_id}`,
          key: 'access_key',
          environment_variable: AWS_KEY_ENV.accessKey,
        });
        expect(byVariable[AWS_KEY_ENV.secretKey].key).toBe('secret_key');
        expect(ENV.password in byVariable).toBe((w as StageSpec | typeof AGENT).grants.repositoryKey);
        if (w.grants.repositoryKey)
          expect(byVariable[ENV.password].id).toBe(tf('yandex_lockbox_secret.password.id'));
      },
    );

    it('each account reads its own key secret only', () => {
      const readers = Object.values<Tf>(resources('yandex_lockbox_secret_iam_member')).filter((m) =>
        m.secret_id.includes('_keys.'),
      );
      for (const r of readers) {
        const name = /yandex_lockbox_secret\.(\w+)_keys\.id/.exec(r.secret_id)![1];
        expect(r.member).toBe(account(name!));
      }
      expect(readers).toHaveLength(STAGES.length + 1);
    });
  });

  it('runs the agent as a container task with the table’s cores and memory', () => {
    const agent = resources('yandex_serverless_container').agent;
    expect(agent).toMatchObject({
      memory: AGENT.memoryMiB,
      cores: AGENT.cpu,
      runtime: { type: 'task' },
      image: { url: tf('var.agent_image') },
      service_account_id: tf('yandex_iam_service_account.agent.id'),
    });
    expect(agent.image.environment[ENV.repositoryBucket]).toBe(tf('yandex_storage_bucket.repository.bucket'));
    expect(agent.image.environment[queueUrlEnv('verify')]).toBe(tf('yandex_message_queue.verify.id'));
  });

  it('refuses a prefix the cloud’s names cannot take', () => {
    for (const prefix of ['Zapas', 'z', '-zapas', 'zapas-', 'a'.repeat(32), 'za_pas'])
      expect(() => yandexTerraform({ config, prefix, objectLock: false })).toThrow(DeploymentError);
    expect(() => yandexTerraform({ config, prefix: 'zapas-prod-2', objectLock: false })).not.toThrow();
  });

  it('refuses stage memory Yandex does not take', () => {
    const odd = STAGES.map((s) => (s.name === 'api' ? { ...s, memoryMiB: 200 } : s));
    expect(() => yandexTerraform({ config, prefix: 'zapas', objectLock: false, stages: odd })).toThrow(
      /api: 200 MiB of memory; Yandex takes multiples of 128 MiB/,
    );
  });
});
