/**
 * Opens the configured repositories by name, the same way in `zapas serve`, the stage functions and the
 * agent: the URL (a folder relative to the config's folder, or s3://…), its storage endpoint, the password
 * (the repository's passwordFile, or what the runtime supplies: ZAPAS_PASSWORD, a cloud secret), the KDF
 * cost.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { newSlotLogN, PasswordKeySlot } from '../keys/password';
import { RepositoryNotFoundError } from '../repo/errors';
import { Repository } from '../repo/repository';
import { openStorage } from '../storage/open';
import type { ZapasConfig } from './config/schema';

export interface OpenerOptions {
  /** Folder that relative URLs and password files are read from (the config file's). */
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** The password of a repository without a passwordFile (default: ZAPAS_PASSWORD). */
  password?: (name: string) => Promise<string | undefined>;
  log?: (line: string) => void;
}

export class RepositoryOpener {
  constructor(
    private readonly config: ZapasConfig,
    private readonly opts: OpenerOptions,
  ) {}

  /**
   * Opens repository `name` (creating it when missing and `init`). Each call gives a Repository of its
   * own: jobs running at once load and extend their own index.
   */
  get(name: string, init = false): Promise<Repository> {
    return this.openRepository(name, init);
  }

  /** The URL of repository `name`, a relative folder resolved against the config's folder. */
  url(name: string): string {
    const r = this.config.repositories[name];
    if (!r) throw new Error(`no repository "${name}" in the configuration`);
    return /^[a-z0-9]+:\/\//i.test(r.url) || isAbsolute(r.url) ? r.url : resolve(this.opts.baseDir, r.url);
  }

  private async openRepository(name: string, init: boolean): Promise<Repository> {
    const r = this.config.repositories[name]!;
    const url = this.url(name);
    const env = this.opts.env;
    const storage = openStorage(url, { ...(r.endpoint ? { s3Endpoint: r.endpoint } : {}), env });
    const logN = newSlotLogN(env);
    const slot = new PasswordKeySlot(await this.password(name), logN);
    try {
      return await Repository.open(storage, slot);
    } catch (err) {
      if (!(err instanceof RepositoryNotFoundError) || !init) throw err;
      this.opts.log?.(`repository "${name}": none at ${url}, creating it`);
      return Repository.init(storage, slot);
    }
  }

  private async password(name: string): Promise<string> {
    const r = this.config.repositories[name]!;
    if (r.passwordFile) {
      const file = isAbsolute(r.passwordFile) ? r.passwordFile : resolve(this.opts.baseDir, r.passwordFile);
      const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new Error(`repository "${name}": cannot read its password file ${file} (${err.code})`);
      });
      return text.replace(/\r?\n$/, '');
    }
    const supplied = this.opts.password ? await this.opts.password(name) : this.opts.env.ZAPAS_PASSWORD;
    if (supplied) return supplied;
    throw new Error(`repository "${name}" has no passwordFile and no password was supplied (ZAPAS_PASSWORD)`);
  }
}
