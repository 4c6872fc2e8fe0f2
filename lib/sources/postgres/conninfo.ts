/**
 * libpq connection strings, as `--pg` takes them: keyword/value ("host=/run/postgresql dbname=app") or a URI
 * ("postgresql://backup@db1:5432/app"). The string goes unchanged to pg_basebackup, pg_dump and pg_restore
 * (libpq parses it there); zapas parses it only to connect for its own queries and to refuse a password,
 * which on a command line is visible to every user of the machine.
 */

/** A connection string zapas will not use, and why. */
export class ConninfoError extends Error {
  override readonly name = 'ConninfoError';
}

/** Keywords this parser knows how to hand to the node-postgres client (others go to libpq tools only). */
export interface ParsedConninfo {
  host?: string;
  port?: number;
  user?: string;
  dbname?: string;
  sslmode?: string;
  application_name?: string;
  connect_timeout?: number;
  /** Every keyword as written, for the tools. */
  all: Record<string, string>;
}

const PASSWORD_HINT =
  'a password in --pg is visible in the process list: put it in ~/.pgpass or the file PGPASSFILE names, or in PGPASSWORD';

/** Parses a connection string; a password in it is a ConninfoError. */
export function parseConninfo(text: string): ParsedConninfo {
  const all = /^postgres(ql)?:\/\//.test(text) ? parseUri(text) : parseKeywords(text);
  if ('password' in all) throw new ConninfoError(`refusing the connection string: ${PASSWORD_HINT}`);
  const out: ParsedConninfo = { all };
  if (all.host !== undefined) out.host = all.host;
  if (all.hostaddr !== undefined && out.host === undefined) out.host = all.hostaddr;
  if (all.port !== undefined) out.port = intOf('port', all.port);
  if (all.user !== undefined) out.user = all.user;
  if (all.dbname !== undefined) out.dbname = all.dbname;
  if (all.sslmode !== undefined) out.sslmode = all.sslmode;
  if (all.application_name !== undefined) out.application_name = all.application_name;
  if (all.connect_timeout !== undefined) out.connect_timeout = intOf('connect_timeout', all.connect_timeout);
  return out;
}

/** The same connection with another database (pg_dump per database, pg_restore into a target). */
export function withDbname(text: string, dbname: string): string {
  const all = { ...parseConninfo(text).all, dbname };
  return Object.entries(all)
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(' ');
}

function intOf(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new ConninfoError(`${key} must be a whole number, not "${value}"`);
  return n;
}

function quote(value: string): string {
  return value === '' || /[\s'\\]/.test(value) ? `'${value.replace(/(['\\])/g, '\\$1')}'` : value;
}

/** keyword = value pairs; values may be single-quoted with \' and \\ escapes (libpq's rules). */
function parseKeywords(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  for (skipSpace(); i < text.length; skipSpace()) {
    const keyStart = i;
    while (i < text.length && /[A-Za-z0-9_]/.test(text[i]!)) i++;
    const key = text.slice(keyStart, i);
    skipSpace();
    if (!key || text[i] !== '=')
      throw new ConninfoError(`malformed connection string near "${text.slice(keyStart, keyStart + 20)}"`);
    i++;
    skipSpace();
    let value = '';
    if (text[i] === "'") {
      i++;
      for (;;) {
        if (i >= text.length) throw new ConninfoError(`unterminated quoted value for "${key}"`);
        const c = text[i++]!;
        if (c === "'") break;
        if (c === '\\' && i < text.length) value += text[i++];
        else value += c;
      }
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) {
        const c = text[i++]!;
        if (c === '\\' && i < text.length) value += text[i++];
        else value += c;
      }
    }
    out[key] = value;
  }
  return out;
}

/** postgresql://[user[:password]@][host][:port][/dbname][?key=value&…] */
function parseUri(text: string): Record<string, string> {
  let url: URL;
  try {
    // A socket folder as host ("%2Frun%2Fpostgresql") decodes below.
    url = new URL(text.replace(/^postgres(ql)?:/, 'http:'));
  } catch {
    throw new ConninfoError('malformed connection URI');
  }
  const out: Record<string, string> = {};
  if (url.username) out.user = decodeURIComponent(url.username);
  if (url.password) out.password = '(given)';
  if (url.hostname) out.host = decodeURIComponent(url.hostname);
  if (url.port) out.port = url.port;
  const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (db) out.dbname = db;
  for (const [k, v] of url.searchParams) out[k] = v;
  return out;
}
