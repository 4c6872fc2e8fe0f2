/**
 * Starting the agent container for a heavy job, per cloud: on AWS an ECS Fargate task (RunTask, the job
 * id in the container's environment); on Yandex Cloud a call to the agent's Serverless Container with the
 * function's IAM token, which the agent acknowledges before it runs the job. Which one: the environment
 * (lib/infra/env.ts) says, as the deployment set it.
 */
import { ECSClient, RunTaskCommand } from '@aws-sdk/client-ecs';
import type { Job } from '../../lib/catalog/jobs';
import { ENV } from '../../lib/infra/env';
import type { InvocationContext } from './stage';

export type AgentLauncher = (job: Job, context: InvocationContext) => Promise<void>;

/** The launcher the environment configures; one that fails clearly when none is. */
export function agentLauncher(env: NodeJS.ProcessEnv, ecs?: ECSClient): AgentLauncher {
  if (env[ENV.agentUrl]) return httpLauncher(env[ENV.agentUrl]!);
  if (env[ENV.agentCluster])
    return ecsLauncher(env, ecs ?? new ECSClient(env[ENV.region] ? { region: env[ENV.region] } : {}));
  return async () => {
    throw new Error(
      `no agent is configured (set ${ENV.agentCluster} for ECS or ${ENV.agentUrl} for a container URL)`,
    );
  };
}

function ecsLauncher(env: NodeJS.ProcessEnv, ecs: ECSClient): AgentLauncher {
  const need = (name: string) => {
    const v = env[name];
    if (!v) throw new Error(`set ${name}`);
    return v;
  };
  return async (job) => {
    const r = await ecs.send(
      new RunTaskCommand({
        cluster: need(ENV.agentCluster),
        taskDefinition: need(ENV.agentTaskDefinition),
        launchType: 'FARGATE',
        count: 1,
        startedBy: job.id.slice(0, 36),
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: need(ENV.agentSubnets).split(',').filter(Boolean),
            ...(env[ENV.agentSecurityGroup] ? { securityGroups: [env[ENV.agentSecurityGroup]!] } : {}),
            assignPublicIp: 'DISABLED',
          },
        },
        overrides: {
          containerOverrides: [{ name: 'agent', environment: [{ name: ENV.agentJob, value: job.id }] }],
        },
      }),
    );
    const failure = r.failures?.[0];
    if (failure || !r.tasks?.length)
      throw new Error(
        `ECS did not start the agent: ${failure?.reason ?? 'no task'}${failure?.detail ? ` (${failure.detail})` : ''}`,
      );
  };
}

function httpLauncher(url: string): AgentLauncher {
  return async (job, context) => {
    const token = context.token?.access_token;
    const res = await fetch(new URL('/run', url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ jobId: job.id }),
      signal: AbortSignal.timeout(30_000),
    });
    if (res.status !== 202)
      throw new Error(
        `the agent at ${new URL(url).host} answered ${res.status}: ${(await res.text()).slice(0, 200)}`,
      );
  };
}
