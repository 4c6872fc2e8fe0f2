/**
 * The Yandex deployment writer: from the stage table (lib/infra/stages.ts) and a checked configuration,
 * a Terraform JSON configuration for the yandex-cloud/yandex provider (`main.tf.json`) beside the
 * function bundles it zips. `yandexTerraform` builds the document and touches nothing; `writeYandexDeployment`
 * reads the configuration, finds the bundles and writes, after every check has passed, so a refused
 * deployment leaves no half-written folder.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfigFile } from '../../pipeline/config/load';
import type { ZapasConfig } from '../../pipeline/config/schema';
import { cloudAuthProblem } from '../auth';
import { AGENT, type AgentSpec, QUEUES, type QueueSpec, STAGES, type StageSpec } from '../stages';
import { Access } from './access';
import { addAgent } from './agent';
import { copyBundles, locateBundles } from './bundles';
import { addCatalog } from './catalog';
import { addPasswordSecret, addServiceAccount, addStaticKey } from './credentials';
import { DeploymentError } from './errors';
import { addFunction } from './functions';
import { addGateway, type GatewayAuth } from './gateway';
import { agentRoles, triggerRoles, workloadRoles } from './iam';
import { addFrame, addOutputs, PREFIX_PATTERN } from './providers';
import { addQueues } from './queues';
import { ONE, triggerAccount } from './resources';
import { addBuckets, addKey } from './storage';
import { TerraformDocument, type TfBlock } from './terraform-json';
import { addTriggers } from './triggers';

/** The file Terraform reads. */
export const MAIN_FILE = 'main.tf.json';

export interface YandexDeploymentInput {
  /** The checked configuration (parseConfig), given to every workload as ZAPAS_CONFIG. */
  config: ZapasConfig;
  /** Default of the `prefix` variable. */
  prefix: string;
  /** Object Lock on the repository bucket, with a default retention from variables. */
  objectLock: boolean;
  /**
   * The API gateway's JWT authorizer: defaults of its variables. A setting left out has no default, and
   * `terraform plan` refuses to run until it is set (`-var api_jwt_issuer=…`).
   */
  auth?: GatewayAuth;
  /** The stage table; the real one by default (tests pass variants). */
  stages?: readonly StageSpec[];
  queues?: readonly QueueSpec[];
  agent?: AgentSpec;
}

export interface YandexDeployment {
  document: TfBlock;
  resourceCount: number;
  /** What applies only with a preview feature or extra care, for the operator to read. */
  warnings: string[];
}

/** Refuses a prefix the cloud's names cannot take. */
export function checkPrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix))
    throw new DeploymentError(
      `prefix "${prefix}": 2–31 lowercase letters, digits and dashes, starting with a letter and not ending with a dash`,
    );
}

/** The Terraform document for the stage table and `config`. Pure: reads and writes nothing. */
export function yandexTerraform(input: YandexDeploymentInput): YandexDeployment {
  const { stages = STAGES, queues = QUEUES, agent = AGENT } = input;
  checkPrefix(input.prefix);
  const configJson = JSON.stringify(input.config);
  const doc = new TerraformDocument();
  const warnings: string[] = [];

  addFrame(doc, { prefix: input.prefix, objectLock: input.objectLock });
  addKey(doc);
  addBuckets(doc, { objectLock: input.objectLock });
  addCatalog(doc);
  addQueues(doc, queues);
  addPasswordSecret(doc);

  const access = new Access(doc);
  for (const stage of stages) {
    addServiceAccount(doc, stage.name, stage.name, `zapas ${stage.name}: its function's own account`);
    addStaticKey(doc, stage.name);
    access.grant({ account: stage.name, workload: stage.name }, workloadRoles(stage.grants));
    warnings.push(...addFunction(doc, stage, configJson));
    if (stage.triggers.length === 0) continue;
    const account = triggerAccount(stage.name);
    addServiceAccount(
      doc,
      account,
      `${stage.name}-trigger`,
      `zapas ${stage.name}: what invokes the function`,
    );
    access.grant({ account, stage: stage.name }, triggerRoles(stage.triggers));
    addTriggers(doc, stage);
  }
  addServiceAccount(doc, ONE.agent, agent.name, `zapas ${agent.name}: the container task's own account`);
  addStaticKey(doc, ONE.agent);
  access.grant({ account: ONE.agent, workload: ONE.agent }, agentRoles(agent.grants));
  addAgent(doc, agent, configJson);
  addGateway(doc, stages, input.auth);
  access.finish();
  addOutputs(
    doc,
    queues.map((q) => q.name),
    stages.some((s) => s.triggers.some((t) => t.kind === 'http')),
  );
  return { document: doc.toJSON(), resourceCount: doc.resourceCount, warnings };
}

export interface WriteOptions {
  /** The folder to write (created if missing; files of an earlier run are replaced). */
  outDir: string;
  /** Where `npm run build` put the bundles (the project's dist/). */
  distRoot: string;
  configFile: string;
  prefix: string;
  objectLock: boolean;
  /** The API gateway's JWT authorizer (see YandexDeploymentInput). */
  auth?: GatewayAuth;
}

export interface WrittenDeployment extends YandexDeployment {
  mainFile: string;
  functionDirs: string[];
}

/** Checks the configuration, the table's limits and the bundles, then writes the deployment to `outDir`. */
export async function writeYandexDeployment(opts: WriteOptions): Promise<WrittenDeployment> {
  const config = await loadConfigFile(opts.configFile);
  const authProblem = cloudAuthProblem(config.auth, opts.auth);
  if (authProblem) throw new DeploymentError(`${opts.configFile}: ${authProblem}`);
  const deployment = yandexTerraform({
    config,
    prefix: opts.prefix,
    objectLock: opts.objectLock,
    // The gateway trusts the issuer the api function trusts, unless told otherwise.
    auth: opts.auth ?? {
      issuer: config.auth!.issuer,
      audience: config.auth!.audience,
      jwksUri: config.auth!.jwks,
    },
  });
  const bundles = locateBundles(opts.distRoot, STAGES);
  await mkdir(opts.outDir, { recursive: true });
  const functionDirs = await copyBundles(bundles, opts.outDir);
  const mainFile = join(opts.outDir, MAIN_FILE);
  const temporary = `${mainFile}.tmp-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(deployment.document, null, 2)}\n`);
  await rename(temporary, mainFile);
  return { ...deployment, mainFile, functionDirs };
}
