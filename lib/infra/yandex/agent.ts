/**
 * The agent (pg_basebackup, pg_dump, file walks) as a Serverless Container in task mode: the stage
 * table's cores and memory, its own service account (which also pulls the image), the same environment
 * contract as the functions, and its secrets. The image is built from the agent's Dockerfile and pushed by
 * the operator (`var.agent_image`); only the workloads whose grants have `startsAgent` may invoke it.
 */
import type { AgentSpec } from '../stages';
import { resourceName } from '../stages';
import { secretsOf } from './credentials';
import { checkEnvironmentSize, environmentOf } from './environment';
import { checkMemory } from './functions';
import { CONTAINER_MEMORY_LIMIT_MIB } from './limits';
import { ONE, PREFIX, REF, TYPE } from './resources';
import { expr, literal, type TerraformDocument } from './terraform-json';

/** The agent gets whole cores: its steps (compression, checksums) keep them busy. */
const CORE_FRACTION_PERCENT = 100;

export function addAgent(doc: TerraformDocument, agent: AgentSpec, configJson: string): void {
  checkMemory(agent.name, agent.memoryMiB, CONTAINER_MEMORY_LIMIT_MIB);
  const environment = environmentOf({ name: agent.name, grants: agent.grants, triggers: [] }, configJson);
  checkEnvironmentSize(agent.name, environment);
  doc.resource(TYPE.container, ONE.agent, {
    name: resourceName(PREFIX, agent.name),
    description: literal(`zapas ${agent.name}: ${agent.purpose}`),
    memory: agent.memoryMiB,
    cores: agent.cpu,
    core_fraction: CORE_FRACTION_PERCENT,
    execution_timeout: expr('var.agent_timeout'),
    service_account_id: REF.accountId(ONE.agent),
    runtime: { type: 'task' },
    image: { url: expr('var.agent_image'), environment },
    secrets: secretsOf(ONE.agent, agent.grants.repositoryKey),
  });
}
