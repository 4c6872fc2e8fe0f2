import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Aspects, type Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
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

/** A row of cdk-nag's report (Rule ID, Resource ID, Compliance, Exception Reason, Rule Level, Rule Info). */
interface ReportRow {
  rule: string;
  resource: string;
  compliance: string;
  reason: string;
}

/** Every row of the NagReport CSVs that AwsSolutionsChecks wrote into the assembly folder. */
function reportRows(outdir: string): ReportRow[] {
  return readdirSync(outdir)
    .filter((f) => /^AwsSolutions-.*-NagReport\.csv$/.test(f))
    .flatMap((f) => readFileSync(join(outdir, f), 'utf8').trim().split('\n').slice(1))
    .map((line) => {
      const [rule, resource, compliance, reason] = [...line.matchAll(/"((?:[^"]|"")*)"/g)].map((m) => m[1]!);
      return { rule: rule!, resource: resource!, compliance: compliance!, reason: reason! };
    });
}

/**
 * The acknowledgements there may be, each with the resources it may cover: anything else acknowledged
 * fails, and so does one that no longer covers anything.
 */
const ACKNOWLEDGED: Array<[rule: string, resource: RegExp]> = [
  ['AwsSolutions-SMG4', /-data\/Password\/Resource$/],
  ['AwsSolutions-ECS2', /-service\/Agent\/Task\/Resource$/],
  ['AwsSolutions-IAM5', /-service\/Agent\/Task\/ExecutionRole\/DefaultPolicy\/Resource$/],
  [
    'AwsSolutions-IAM5',
    /-service\/(Orchestrate|Ingest|Verify|Purge|Api|Agent\/Task\/Task)\/?Role\/DefaultPolicy\/Resource$/,
  ],
  ['AwsSolutions-L1', /-service\/(Orchestrate|Ingest|Verify|Purge|Api)\/Function\/Resource$/],
  ['AwsSolutions-IAM4', /-service\/BucketNotificationsHandler[0-9a-f]+\/Role\/Resource$/],
  ['AwsSolutions-APIG4', /-service\/HttpApi\/Api\/GET--v1--health\/Resource$/],
];

function nagged(env: string, extra?: (service: Stack) => void): { findings: Finding[]; report: ReportRow[] } {
  const app = new App({ context: { ...CDK_CONTEXT, 'aws:cdk:disable-asset-staging': true, env } });
  const { data, service } = buildApp(app, ROOT);
  extra?.(service);
  Aspects.of(app).add(new AwsSolutionsChecks());
  app.synth();
  const findings: Finding[] = [];
  const nag = Match.stringLikeRegexp('^AwsSolutions-');
  for (const stack of [data, service]) {
    const a = Annotations.fromStack(stack);
    for (const m of a.findError('*', nag))
      findings.push({ path: m.id, level: 'error', message: String(m.entry.data) });
    for (const m of a.findWarning('*', nag))
      findings.push({ path: m.id, level: 'warning', message: String(m.entry.data) });
  }
  return { findings, report: reportRows(app.outdir) };
}

describe('cdk-nag (AwsSolutionsChecks)', () => {
  it.each(['dev', 'prod'])('%s: no unacknowledged error or warning in any stack', (env) => {
    const { findings } = nagged(env);
    expect(findings.map((f) => `${f.level} ${f.path} ${f.message.split('\n')[0]}`)).toEqual([]);
  });

  it.each(['dev', 'prod'])('%s: no non-compliant report row, and only the known acknowledgements', (env) => {
    const { report } = nagged(env);
    expect(report.length).toBeGreaterThan(50);
    expect(report.filter((r) => r.compliance === 'Non-Compliant')).toEqual([]);
    const suppressed = report.filter((r) => r.compliance === 'Suppressed');
    const covers = ([rule, resource]: [string, RegExp], r: ReportRow) =>
      rule === r.rule && resource.test(r.resource);
    expect(suppressed.filter((r) => !ACKNOWLEDGED.some((a) => covers(a, r)))).toEqual([]);
    for (const a of ACKNOWLEDGED)
      expect([a[0], suppressed.filter((r) => covers(a, r)).length > 0]).toEqual([a[0], true]);
    for (const r of suppressed) expect(r.reason.length).toBeGreaterThan(60);
  });

  it('docs/deploy-aws.md’s acknowledgement table names every acknowledged rule', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'deploy-aws.md'), 'utf8');
    for (const [rule] of ACKNOWLEDGED) expect(doc).toMatch(new RegExp(`^\\| \`${rule}\`\\s*\\|`, 'm'));
  });

  it('the check sees what it should: a queue without a DLQ or TLS-only policy is reported', () => {
    const { findings } = nagged('dev', (service) => new sqs.Queue(service, 'Probe'));
    const rules = findings.filter((f) => f.path.includes('/Probe/')).map((f) => f.message.split(':')[0]);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });
});
