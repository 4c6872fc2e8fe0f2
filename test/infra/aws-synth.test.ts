import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';

/**
 * The real command, as DevOps runs it: `cdk synth` through cdk.json's app command, offline — every
 * request out goes to a proxy that refuses connections, and no notice, telemetry or version check may
 * show up in the output. The suite's setup has built dist/ already (ZAPAS_CDK_SKIP_BUILD).
 */
const ROOT = resolve(__dirname, '..', '..');
const CDK = join(ROOT, 'node_modules', 'aws-cdk', 'bin', 'cdk');
const SYNTH_BUDGET_MS = 60_000;

function synth(out: string, ...args: string[]) {
  const started = Date.now();
  const run = spawnSync(process.execPath, [CDK, 'synth', '-q', '-o', out, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: SYNTH_BUDGET_MS,
    env: {
      ...process.env,
      // cdk.json's `node` is this Node (24), as under npx.
      PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
      HTTPS_PROXY: 'http://127.0.0.1:9',
      HTTP_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '',
      CDK_DISABLE_VERSION_CHECK: '1',
      ZAPAS_CDK_SKIP_BUILD: '1',
    },
  });
  return { ...run, ms: Date.now() - started };
}

describe('cdk synth (the CLI, offline)', () => {
  let out: string;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'zapas-cdk-out-'));
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('exits 0 within the budget and writes both stacks’ templates', () => {
    const run = synth(out);
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    expect(run.ms).toBeLessThan(SYNTH_BUDGET_MS);
    for (const stack of ['zapas-dev-data', 'zapas-dev-service']) {
      const template = JSON.parse(readFileSync(join(out, `${stack}.template.json`), 'utf8'));
      expect(Object.keys(template.Resources).length).toBeGreaterThan(5);
    }
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output).not.toMatch(/notices|telemetry|newer version|Could not/i);
    // bin/cdk.ts runs cdk-nag's AWS Solutions checks: their reports are in the assembly, with nothing left.
    expect(output).not.toMatch(/AwsSolutions-/);
    for (const stack of ['zapas-dev-data', 'zapas-dev-service']) {
      const report = readFileSync(join(out, `AwsSolutions--${stack}-NagReport.csv`), 'utf8');
      expect(report).toMatch(/"Compliant"/);
      expect(report).not.toMatch(/"Non-Compliant"/);
    }
    // The example configuration keeps its repository in a folder: synth says the functions cannot reach it.
    expect(output).toMatch(
      /repositories main \(\.\/zapas-repo\) are not s3:\/\/ URLs.*zapas-dev-repository-<account>-<region>/,
    );
  });

  it('-c env=prod synthesises the prod stacks', () => {
    const run = synth(join(out, 'prod'), '-c', 'env=prod');
    expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr }).toEqual({
      status: 0,
      stderr: '',
    });
    const data = JSON.parse(readFileSync(join(out, 'prod', 'zapas-prod-data.template.json'), 'utf8'));
    expect(JSON.stringify(data)).toContain('"ObjectLockEnabled":true');
  });

  it('fails with the configuration’s error, naming the field, when the config is invalid', () => {
    const config = join(out, 'zapas.yaml');
    const example = readFileSync(join(ROOT, 'examples', 'zapas.yaml'), 'utf8');
    writeFileSync(config, example.replace('cron: "0 3 * * *"', 'cron: "61 3 * * *"'));
    const run = synth(join(out, 'bad'), '-c', `config=${config}`);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/ConfigError/);
    expect(run.stderr).toMatch(/sources\.catalogue\.schedules\.0\.cron/);
  });
});
