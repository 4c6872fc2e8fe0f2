import { childEnv } from '../../lib/sources/child-env';

const PARENT: NodeJS.ProcessEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/var/lib/postgresql',
  LANG: 'C.UTF-8',
  LC_MESSAGES: 'C',
  TZ: 'UTC',
  ZAPAS_REPOSITORY: 's3://backups/prod',
  ZAPAS_PASSWORD: 'repository secret',
  ZAPAS_PASSWORD_FILE: '/etc/zapas/password',
  ZAPAS_KMS_SECRET: 'another secret',
  AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'cloud secret',
  AWS_SESSION_TOKEN: 'session secret',
  AWS_REGION: 'eu-central-1',
  AWS_SHARED_CREDENTIALS_FILE: '/etc/zapas/aws-credentials',
  PGHOST: '/run/postgresql',
  PGPASSWORD: 'database password',
  PGPASSFILE: '/etc/zapas/pgpass',
  SSH_AUTH_SOCK: '/tmp/agent.sock',
  GITHUB_TOKEN: 'unrelated secret',
};

describe('child environments', () => {
  it('a libpq client gets locale, path, home and the libpq variables: no repository or cloud secret', () => {
    expect(childEnv('pg-client', PARENT)).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/var/lib/postgresql',
      LANG: 'C.UTF-8',
      LC_MESSAGES: 'C',
      TZ: 'UTC',
      PGHOST: '/run/postgresql',
      PGPASSWORD: 'database password',
      PGPASSFILE: '/etc/zapas/pgpass',
    });
  });

  it('postgres and pg_verifybackup get no password of any kind, only where cloud credentials are', () => {
    const env = childEnv('pg-server', PARENT);
    expect(env).toEqual({
      PATH: '/usr/bin:/bin',
      HOME: '/var/lib/postgresql',
      LANG: 'C.UTF-8',
      LC_MESSAGES: 'C',
      TZ: 'UTC',
      AWS_REGION: 'eu-central-1',
      AWS_SHARED_CREDENTIALS_FILE: '/etc/zapas/aws-credentials',
    });
  });

  it("zapas's own daemons get what opens the same repository, and nothing unrelated", () => {
    const env = childEnv('zapas', PARENT);
    expect(env.ZAPAS_PASSWORD).toBe('repository secret');
    expect(env.AWS_SECRET_ACCESS_KEY).toBe('cloud secret');
    expect(env.ZAPAS_REPOSITORY).toBe('s3://backups/prod');
    for (const name of ['PGPASSWORD', 'PGHOST', 'SSH_AUTH_SOCK', 'GITHUB_TOKEN'])
      expect(env[name]).toBeUndefined();
  });

  it('is a copy: changing it leaves the parent alone', () => {
    const parent = { ...PARENT };
    const env = childEnv('pg-client', parent);
    env.PATH = '/elsewhere';
    expect(parent.PATH).toBe('/usr/bin:/bin');
  });
});
