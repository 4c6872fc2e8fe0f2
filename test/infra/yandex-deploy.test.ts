import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { STAGES } from '../../lib/infra/stages';
import { runCli, spawnCli, TEST_PASSWORD_FOR_CLI } from '../support/cli';
import { useTempDir } from '../support/temp';

const ROOT = join(__dirname, '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'zapas.yaml');
const PASSWORD = 'correct-horse-battery-staple-7f3a9c';

const tmp = useTempDir('zapas-deploy-');

/** A dist root with a bundle for each named stage, as `npm run build` lays them out. */
async function fakeDist(name: string, stages = STAGES.map((s) => s.name)): Promise<string> {
  const dist = join(tmp(), name);
  for (const stage of stages) {
    await mkdir(join(dist, 'functions', stage), { recursive: true });
    await writeFile(
      join(dist, 'functions', stage, 'index.cjs'),
      `exports.handler = async () => ({ stage: '${stage}' });\n`,
    );
    await writeFile(
      join(dist, 'functions', stage, 'index.cjs.map'),
      '{"version":3,"sources":[],"mappings":""}\n',
    );
    // The native addon scripts/build.mjs leaves beside the bundle (it cannot be bundled).
    await mkdir(join(dist, 'functions', stage, 'node_modules', 'addon'), { recursive: true });
    await writeFile(join(dist, 'functions', stage, 'node_modules', 'addon', 'package.json'), '{}\n');
  }
  return dist;
}

/** A configuration whose repository password file holds PASSWORD; `residency` as given. */
async function configWith(name: string, residency: string, extra = ''): Promise<string> {
  const file = join(tmp(), `${name}.yaml`);
  await writeFile(join(tmp(), `${name}.password`), PASSWORD);
  await writeFile(
    file,
    `version: 1
repositories:
  main: { url: s3://backups/main, residency: ${residency}, passwordFile: ./${name}.password }
auth: { issuer: https://id.example.org, audience: zapas, jwks: https://id.example.org/jwks.json }
sources:
  saves:
    type: files
    paths: [/srv/saves]
    repository: main
    dataClass: personal
    retention: { maximum: 3y }
${extra}`,
  );
  return file;
}

async function allText(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  return (await Promise.all(files.map((f) => readFile(f, 'utf8')))).join('\n');
}

describe('zapas deploy yandex', () => {
  it('writes main.tf.json and a folder per function, and says what to run next', async () => {
    const dist = await fakeDist('dist-ok');
    const out = join(tmp(), 'out-ok');
    const r = await runCli(['deploy', 'yandex', '--out', out, '--config', EXAMPLE, '--dist', dist]);
    expect(r.stderr).not.toMatch(/zapas: (?!warning)/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('terraform init && terraform apply');
    const doc = JSON.parse(await readFile(join(out, 'main.tf.json'), 'utf8'));
    expect(Object.keys(doc.resource.yandex_function).sort()).toEqual(STAGES.map((s) => s.name).sort());
    for (const s of STAGES) {
      expect(existsSync(join(out, 'functions', s.name, 'index.cjs'))).toBe(true);
      expect(existsSync(join(out, 'functions', s.name, 'node_modules', 'addon', 'package.json'))).toBe(true);
      expect(doc.data.archive_file[s.name].source_dir).toBe(`\${path.module}/functions/${s.name}`);
    }
    expect(r.stderr).toMatch(/warning: ingest: a 900 s timeout/);
  });

  it('puts no password anywhere in what it writes or prints', async () => {
    const dist = await fakeDist('dist-secret');
    const out = join(tmp(), 'out-secret');
    const config = await configWith('ru', 'RU');
    const r = await runCli(['deploy', 'yandex', '--out', out, '--config', config, '--dist', dist]);
    expect(r.code).toBe(0);
    const written = await allText(out);
    for (const secret of [PASSWORD, TEST_PASSWORD_FOR_CLI]) {
      expect(written).not.toContain(secret);
      expect(r.stdout + r.stderr).not.toContain(secret);
    }
  });

  it('refuses personal data in a repository outside Russia (152-FZ), writing nothing', async () => {
    const dist = await fakeDist('dist-residency');
    const out = join(tmp(), 'out-residency');
    const r = await runCli([
      'deploy',
      'yandex',
      '--out',
      out,
      '--config',
      await configWith('de', 'DE'),
      '--dist',
      dist,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('152-FZ');
    expect(r.stderr).toContain('sources.saves.repository');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses an invalid configuration with the checker’s error, and a missing one', async () => {
    const dist = await fakeDist('dist-invalid');
    const out = join(tmp(), 'out-invalid');
    const bad = await configWith('bad', 'RU', '    colour: blue\n');
    const r = await runCli(['deploy', 'yandex', '--out', out, '--config', bad, '--dist', dist]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:\d+:\d+: sources\.saves\.colour: unknown field/);
    expect(existsSync(out)).toBe(false);
    const missing = await runCli([
      'deploy',
      'yandex',
      '--out',
      out,
      '--config',
      join(tmp(), 'nope.yaml'),
      '--dist',
      dist,
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read the file');
  });

  it('names every missing bundle and says to run npm run build, writing nothing', async () => {
    const dist = await fakeDist('dist-partial', ['orchestrate']);
    const out = join(tmp(), 'out-partial');
    const r = await runCli(['deploy', 'yandex', '--out', out, '--config', EXAMPLE, '--dist', dist]);
    expect(r.code).toBe(1);
    for (const s of STAGES.filter((x) => x.name !== 'orchestrate'))
      expect(r.stderr).toContain(join(dist, 'functions', s.name, 'index.cjs'));
    expect(r.stderr).not.toContain(join(dist, 'functions', 'orchestrate', 'index.cjs'));
    expect(r.stderr).toContain('npm run build');
    expect(existsSync(out)).toBe(false);
  });

  it('refuses a prefix the cloud cannot take', async () => {
    const r = await runCli([
      'deploy',
      'yandex',
      '--out',
      join(tmp(), 'x'),
      '--config',
      EXAMPLE,
      '--prefix',
      'Zapas_Prod',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--prefix');
  });

  it('--object-lock and --prefix reach the document; a rerun replaces the function folders', async () => {
    const dist = await fakeDist('dist-lock');
    const out = join(tmp(), 'out-lock');
    await mkdir(join(out, 'functions', 'api'), { recursive: true });
    await writeFile(join(out, 'functions', 'api', 'stale.js'), 'old');
    const args = [
      'deploy',
      'yandex',
      '--out',
      out,
      '--config',
      EXAMPLE,
      '--dist',
      dist,
      '--object-lock',
      '--prefix',
      'zp-prod',
    ];
    const r = await runCli(args);
    expect(r.code).toBe(0);
    const doc = JSON.parse(await readFile(join(out, 'main.tf.json'), 'utf8'));
    expect(doc.resource.yandex_storage_bucket.repository.object_lock_configuration.object_lock_enabled).toBe(
      'Enabled',
    );
    expect(doc.variable.prefix.default).toBe('zp-prod');
    expect(existsSync(join(out, 'functions', 'api', 'stale.js'))).toBe(false);
  });

  it('the built command writes the deployment end to end', async () => {
    const dist = await fakeDist('dist-e2e');
    const out = join(tmp(), 'out-e2e');
    const r = await spawnCli(
      ['deploy', 'yandex', '--out', out, '--config', 'examples/zapas.yaml', '--dist', dist],
      {},
      { cwd: ROOT },
    );
    expect(r.stderr).not.toMatch(/zapas: (?!warning)/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(await readFile(join(out, 'main.tf.json'), 'utf8'));
    expect(doc.terraform.required_providers.yandex.source).toBe('yandex-cloud/yandex');
    expect(doc.resource.yandex_api_gateway.api).toBeDefined();
    for (const s of STAGES) expect(existsSync(join(out, 'functions', s.name, 'index.cjs'))).toBe(true);
    const help = await spawnCli(['deploy', 'yandex', '--help'], {}, { cwd: ROOT });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('EXIT STATUS');
  });
});
