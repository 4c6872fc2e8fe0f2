/**
 * The configuration the functions get (ZAPAS_CONFIG): zapas.yaml read at synth and checked by the same
 * parser the functions use, so a bad file fails `cdk synth` with its field and line — not the first job.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, parseConfig } from '../../pipeline/config/load';
import type { ZapasConfig } from '../../pipeline/config/schema';

/**
 * Lambda allows 4 KB of environment in all (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html);
 * the rest of it holds names and ARNs.
 */
export const CONFIG_ENV_MAX_BYTES = 2560;

export interface DeploymentConfig {
  config: ZapasConfig;
  /** Compact JSON, as ZAPAS_CONFIG carries it. */
  json: string;
}

/** The configuration at `file` (relative to `root`), validated. */
export function deploymentConfig(root: string, file: string): DeploymentConfig {
  const path = resolve(root, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  const config = parseConfig(text, file);
  const json = JSON.stringify(config);
  const bytes = Buffer.byteLength(json);
  if (bytes > CONFIG_ENV_MAX_BYTES)
    throw new ConfigError(file, [
      {
        path: '',
        message: `${bytes} bytes as JSON: more than the ${CONFIG_ENV_MAX_BYTES} that fit in a Lambda environment next to the other variables`,
      },
    ]);
  return { config, json };
}

/** Repositories a function cannot reach: a folder is local to the machine that wrote the file. */
export function localRepositories(config: ZapasConfig): string[] {
  return Object.entries(config.repositories)
    .filter(([, r]) => !r.url.startsWith('s3://'))
    .map(([name, r]) => `${name} (${r.url})`);
}
