/** The CDK app: `cdk synth|deploy [-c env=prod] [-c config=path/zapas.yaml]` (docs/deploy-aws.md). */
import { resolve } from 'node:path';
import { App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../lib/infra/aws/app';
import { DeploymentError } from '../lib/infra/aws/errors';
import { ConfigError } from '../lib/pipeline/config/load';

// Bundled to dist/cdk.cjs by scripts/cdk-app.mjs: the repository root is one folder up either way.
const app = new App();
try {
  buildApp(app, resolve(__dirname, '..'));
  // cdk-nag's AWS Solutions rules on every stack: a finding is an error or a warning in the synth output
  // (errors fail `cdk synth`); what is acknowledged is acknowledged next to its resource, with its reason.
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
} catch (err) {
  // A setting or a configuration that is wrong is the user's to fix: its message, not a stack trace.
  if (!(err instanceof ConfigError || err instanceof DeploymentError)) throw err;
  process.stderr.write(`${err.name}: ${err.message}\n`);
  process.exitCode = 1;
}
