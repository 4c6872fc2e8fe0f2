/**
 * The CDK app's composition, from the context alone: `env` picks the environment (dev by default),
 * `config` the zapas.yaml (examples/zapas.yaml by default), `agentImage` an optional prebuilt agent image.
 * bin/cdk.ts calls it; tests call it with a context of their own.
 */
import { Annotations, type App } from 'aws-cdk-lib';
import { cloudAuthProblem } from '../auth';
import { agentImage } from './agent-task';
import { bucketName } from './buckets';
import { DataStack } from './data-stack';
import { deploymentConfig, localRepositories } from './deployment-config';
import { DeploymentError } from './errors';
import { ServiceStack } from './service-stack';
import { DEFAULT_ENVIRONMENT, environmentSettings } from './settings';

export const DEFAULT_CONFIG = 'examples/zapas.yaml';

export interface ZapasStacks {
  data: DataStack;
  service: ServiceStack;
}

/** Adds the data and service stacks of the chosen environment to `app`; `root` is the repository's root. */
export function buildApp(app: App, root: string): ZapasStacks {
  const context = (key: string): unknown => app.node.tryGetContext(key);
  const settings = environmentSettings(
    context('environments'),
    stringContext(context('env')) ?? DEFAULT_ENVIRONMENT,
  );
  const configFile = stringContext(context('config')) ?? DEFAULT_CONFIG;
  const { config, json: configJson } = deploymentConfig(root, configFile);
  const authProblem = cloudAuthProblem(config.auth, settings.auth);
  if (authProblem) throw new DeploymentError(`${configFile}: ${authProblem}`);
  const image = agentImage(root, stringContext(context('agentImage')));
  const env =
    settings.account || settings.region ? { account: settings.account, region: settings.region } : undefined;
  const tags = { project: 'zapas', environment: settings.name };
  const data = new DataStack(app, `${settings.prefix}-data`, { settings, env, tags });
  const service = new ServiceStack(app, `${settings.prefix}-service`, {
    settings,
    data,
    configJson,
    agentImage: image,
    root,
    env,
    tags,
  });
  const local = localRepositories(config);
  if (local.length > 0)
    Annotations.of(service).addWarningV2(
      'zapas:local-repository',
      `${configFile}: repositories ${local.join(', ')} are not s3:// URLs, which the functions cannot reach; point them at s3://${bucketName(settings, 'repository', { account: '<account>', region: '<region>' })}/<prefix>`,
    );
  return { data, service };
}

function stringContext(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
