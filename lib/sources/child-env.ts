/**
 * The environment of every process zapas starts: built from a short list of what the child needs, never
 * inherited whole. The parent's environment may hold the repository password (ZAPAS_PASSWORD), cloud
 * secret keys and whatever else its caller set; a child that reads none of it gets none of it. postgres
 * in particular runs as another user (the `pg verify` scratch server), and every user of the machine with
 * that uid can read its /proc/<pid>/environ.
 */

/** What a child is, and so which variables it gets beyond the common ones. */
export type ChildKind =
  /** A libpq client (pg_dump, pg_restore, psql): the libpq connection variables, PGPASSWORD included. */
  | 'pg-client'
  /**
   * postgres itself, or a tool that opens no connection (pg_verifybackup): the common ones, and the cloud
   * settings that are not secrets, so that a restore_command reading an S3 repository finds its
   * credentials the way the SDK does (a shared credentials file, a profile, the instance's role).
   */
  | 'pg-server'
  /**
   * This program again (the archiving and prefetch daemons): what it needs to open the same repository,
   * the password variables and the cloud credentials included. It is the same program acting for the
   * same user, who gave them to the parent.
   */
  | 'zapas';

/** Locale, time zone, search path and home: what any program may need to run as it does here. */
const COMMON = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'];
const COMMON_PREFIXES = ['LC_'];

/**
 * libpq's connection variables (https://www.postgresql.org/docs/current/libpq-envars.html). PGPASSWORD is
 * the database's password, which pg_dump and pg_restore need when it is given that way; it is never the
 * repository's.
 */
const LIBPQ_PREFIX = 'PG';

/** Cloud settings that are not secrets: where the credentials are, which profile and region. */
const CLOUD_SETTINGS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CA_BUNDLE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
];
/** Cloud credentials: only this program's own daemons get them. */
const CLOUD_SECRETS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'];

/** This program's own settings (repository, password, source, tuning). */
const ZAPAS_PREFIX = 'ZAPAS_';

/** The environment for a child of `kind`, taken from `from` (the parent's, by default). */
export function childEnv(kind: ChildKind, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keep = (name: string): boolean => {
    if (COMMON.includes(name) || COMMON_PREFIXES.some((p) => name.startsWith(p))) return true;
    if (kind === 'pg-client') return name.startsWith(LIBPQ_PREFIX);
    if (kind === 'zapas')
      return name.startsWith(ZAPAS_PREFIX) || CLOUD_SETTINGS.includes(name) || CLOUD_SECRETS.includes(name);
    return kind === 'pg-server' && CLOUD_SETTINGS.includes(name);
  };
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(from)) if (value !== undefined && keep(name)) env[name] = value;
  return env;
}
