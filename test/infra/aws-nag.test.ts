import { App, Aspects, type Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../lib/infra/aws/app';
import { CDK_CONTEXT, ROOT } from '../support/cdk-templates';

/**
 * cdk-nag's AWS Solutions pack over every stack of both environments, as bin/cdk.ts applies it: no
 * finding may be left, error or warning. What is acknowledged is acknowledged in lib/infra/aws next to
 * its resource, with its reason (docs/deploy-aws.md lists them).
 */
interface Finding {
  path: string;
  level: 'error' | 'warning';
  message: string;
}

function nagged(
  env: string,
  context: Record<string, unknown> = {},
): { stacks: Stack[]; findings: Finding[] } {
  const app = new App({
    context: { ...CDK_CONTEXT, 'aws:cdk:disable-asset-staging': true, env, ...context },
  });
  const { data, service } = buildApp(app, ROOT);
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  const findings: Finding[] = [];
  for (const stack of [data, service]) {
    const a = Annotations.fromStack(stack);
    const nag = Match.stringLikeRegexp('^AwsSolutions-');
    for (const m of a.findError('*', nag))
      findings.push({ path: m.id, level: 'error', message: String(m.entry.data) });
    for (const m of a.findWarning('*', nag))
      findings.push({ path: m.id, level: 'warning', message: String(m.entry.data) });
  }
  return { stacks: [data, service], findings };
}

describe('cdk-nag (AwsSolutionsChecks)', () => {
  it.each(['dev', 'prod'])('%s: no unacknowledged error or warning in any stack', (env) => {
    const { findings } = nagged(env);
    expect(findings.map((f) => `${f.level} ${f.path} ${f.message.split('\n')[0]}`)).toEqual([]);
  });
});
