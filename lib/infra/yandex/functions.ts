/**
 * A stage as a Cloud Function: its bundle zipped by Terraform (hashicorp/archive's `archive_file` over the
 * folder the writer copied it to; the zip's SHA-256 is the version hash, so a changed bundle is a new
 * version), the table's memory and timeout, its own service account, environment and secrets. The agent
 * is a Serverless Container task (agent.ts); both share the sizing check here.
 */
import type { StageSpec } from '../stages';
import { resourceName } from '../stages';
import { secretsOf } from './credentials';
import { checkEnvironmentSize, environmentOf } from './environment';
import { DeploymentError } from './errors';
import {
  FUNCTION_ENTRYPOINT,
  FUNCTION_RUNTIME,
  FUNCTION_TIMEOUT_LIMIT_SECONDS,
  MEMORY_STEP_MIB,
} from './limits';
import { PREFIX, REF, TYPE } from './resources';
import { expr, literal, type TerraformDocument } from './terraform-json';

/** Folders of the written deployment: bundles as copied, and the zips Terraform makes of them. */
export const FUNCTIONS_DIR = 'functions';
export const ZIP_DIR = 'build';

/** Refuses memory Yandex does not take: a multiple of 128 MiB, at most `limitMiB`. */
export function checkMemory(name: string, memoryMiB: number, limitMiB = Number.POSITIVE_INFINITY): void {
  if (memoryMiB % MEMORY_STEP_MIB !== 0 || memoryMiB <= 0 || memoryMiB > limitMiB)
    throw new DeploymentError(
      `${name}: ${memoryMiB} MiB of memory; Yandex takes multiples of ${MEMORY_STEP_MIB} MiB${Number.isFinite(limitMiB) ? ` up to ${limitMiB}` : ''}`,
    );
}

/** Adds the stage's zip and function; returns warnings (a timeout that needs a preview feature). */
export function addFunction(doc: TerraformDocument, stage: StageSpec, configJson: string): string[] {
  checkMemory(stage.name, stage.memoryMiB);
  const environment = environmentOf(stage, configJson);
  checkEnvironmentSize(stage.name, environment);
  doc.data(TYPE.archive, stage.name, {
    type: 'zip',
    source_dir: `${expr('path.module')}/${FUNCTIONS_DIR}/${stage.name}`,
    output_path: `${expr('path.module')}/${ZIP_DIR}/${stage.name}.zip`,
  });
  const zip = (attribute: string) => expr(`data.${TYPE.archive}.${stage.name}.${attribute}`);
  doc.resource(TYPE.function, stage.name, {
    name: resourceName(PREFIX, stage.name),
    description: literal(`zapas ${stage.name}: ${stage.purpose}`),
    user_hash: zip('output_sha256'),
    runtime: FUNCTION_RUNTIME,
    entrypoint: FUNCTION_ENTRYPOINT,
    memory: stage.memoryMiB,
    execution_timeout: String(stage.timeoutSeconds),
    service_account_id: REF.accountId(stage.name),
    environment,
    secrets: secretsOf(stage.name, stage.grants.repositoryKey),
    content: { zip_filename: zip('output_path') },
  });
  return stage.timeoutSeconds > FUNCTION_TIMEOUT_LIMIT_SECONDS
    ? [
        `${stage.name}: a ${stage.timeoutSeconds} s timeout is over Cloud Functions' ${FUNCTION_TIMEOUT_LIMIT_SECONDS} s; it needs the long-running functions preview (up to 1 h) enabled for the cloud, or apply fails`,
      ]
    : [];
}
