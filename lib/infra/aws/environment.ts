/**
 * The environment a function or the agent starts with (lib/infra/env.ts names it): the configuration,
 * the catalog, and only the resources its grants reach — a variable without the permission behind it
 * would be a promise the role cannot keep.
 */
import { Aws } from 'aws-cdk-lib';
import { ENV, queueUrlEnv } from '../env';
import type { Grants, QueueName } from '../stages';
import { DeploymentError } from './errors';
import type { ServiceResources } from './resources';

/** Variables for a part with `grants` that consumes `consumes` (its trigger queues). */
export function partEnvironment(
  grants: Grants,
  resources: ServiceResources,
  consumes: readonly QueueName[] = [],
): Record<string, string> {
  const env: Record<string, string> = {
    [ENV.config]: resources.configJson,
    [ENV.catalogTable]: resources.catalog.tableName,
    [ENV.region]: Aws.REGION,
  };
  if (grants.buckets.repository) env[ENV.repositoryBucket] = resources.buckets.repository.bucketName;
  if (grants.buckets.landing) env[ENV.landingBucket] = resources.buckets.landing.bucketName;
  for (const queue of grants.send) env[queueUrlEnv(queue)] = resources.queues[queue].queue.queueUrl;
  const [trigger, ...more] = consumes;
  if (grants.dlq && trigger) {
    // ENV holds one dead-letter URL: a function fed by two queues would need one per queue.
    if (more.length > 0)
      throw new DeploymentError(`one ${ENV.dlqUrl} cannot serve the queues ${consumes.join(', ')}`);
    env[ENV.dlqUrl] = resources.queues[trigger].dlq.queueUrl;
  }
  if (grants.repositoryKey) env[ENV.passwordSecret] = resources.password.secretArn;
  if (grants.startsAgent) {
    const { cluster, taskDefinition, subnets, securityGroup } = resources.agent;
    env[ENV.agentCluster] = cluster.clusterArn;
    env[ENV.agentTaskDefinition] = taskDefinition.taskDefinitionArn;
    env[ENV.agentSubnets] = subnets.map((s) => s.subnetId).join(',');
    env[ENV.agentSecurityGroup] = securityGroup.securityGroupId;
  }
  return env;
}
