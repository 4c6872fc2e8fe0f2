/**
 * The one logger of zapas serve, the stage functions and the agent: pino, writing one JSON object per line
 * (or, for a person at serve's terminal, one readable line) to a stream it is given — no worker-thread
 * transports (they do not bundle). Every line carries the level, the ISO time, the scope's correlation id
 * and stage (log-context.ts); fields that name secrets are redacted before anything is written.
 */
import pino from 'pino';
import { currentLogContext } from './log-context';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `json`: one JSON object per line; `text`: `<time> [<level>: ]<message> <field>=<value>… [<correlation id>]`. */
export type LogFormat = 'json' | 'text';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'text'];

/** Field names whose values never reach a log line, at the top level or up to three levels down. */
export const REDACTED_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'password',
  'passphrase',
  'token',
  'access_token',
  'accessToken',
  'refreshToken',
  'idToken',
  'secret',
  'clientSecret',
  'secretAccessKey',
  'sessionToken',
  'apiKey',
  'privateKey',
  'masterKey',
  'conninfo',
] as const;

/** The same as pino `redact` paths. */
export const REDACT_PATHS: readonly string[] = REDACTED_FIELDS.flatMap((f) => {
  const p = /^[A-Za-z_$][\w$]*$/.test(f) ? `.${f}` : `["${f}"]`;
  return [p.startsWith('.') ? f : p, `*${p}`, `*.*${p}`, `*.*.*${p}`];
});

export const REDACTED = '[redacted]';

export interface LoggerOptions {
  /** Default: `info` (or ZAPAS_LOG_LEVEL, read by `logLevelOf`). */
  level?: LogLevel;
  format?: LogFormat;
  /** Where lines go (process.stdout by default); a `write(line)` is all it needs. */
  destination?: { write(chunk: string): unknown };
  /** Fields on every line. */
  base?: Record<string, unknown>;
}

/** ZAPAS_LOG_LEVEL, checked: a level pino knows, `info` when unset; a wrong value is said, not ignored. */
export function logLevelOf(env: NodeJS.ProcessEnv): LogLevel {
  const v = env.ZAPAS_LOG_LEVEL?.trim().toLowerCase();
  if (!v) return 'info';
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new Error(
    `ZAPAS_LOG_LEVEL: ${JSON.stringify(v.slice(0, 40))} is not a level (one of ${LOG_LEVELS.join(', ')})`,
  );
}

/** ZAPAS_LOG_FORMAT (or the given one), checked; `fallback` when unset. */
export function logFormatOf(value: string | undefined, fallback: LogFormat): LogFormat {
  const v = value?.trim().toLowerCase();
  if (!v) return fallback;
  if ((LOG_FORMATS as readonly string[]).includes(v)) return v as LogFormat;
  throw new Error(`log format ${JSON.stringify(v.slice(0, 40))} is not one of ${LOG_FORMATS.join(', ')}`);
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.destination ?? process.stdout;
  return pino(
    {
      level: opts.level ?? 'info',
      base: opts.base ?? null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      mixin: () => {
        const c = currentLogContext();
        return c ? { ...(c.stage ? { stage: c.stage } : {}), correlationId: c.correlationId } : {};
      },
    },
    opts.format === 'text' ? textDestination(out) : { write: (line: string) => out.write(line) },
  );
}

/** JSON lines from pino turned into one readable line each (values already redacted). */
function textDestination(out: { write(chunk: string): unknown }): { write(line: string): void } {
  return {
    write(line: string) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const { time, level, msg, correlationId, stage: _, ...rest } = o;
      const fields = Object.entries(rest)
        .filter(([k]) => k !== 'event' || rest.event !== msg)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      out.write(
        `${time} ${level === 'info' ? '' : `${level}: `}${msg ?? ''}${fields.length ? ` ${fields.join(' ')}` : ''}${correlationId ? ` [${correlationId}]` : ''}\n`,
      );
    },
  };
}

let shared: Logger | undefined;

/** The process's logger for the stage functions and the agent: JSON to stdout, ZAPAS_LOG_LEVEL. */
export function processLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  shared ??= createLogger({ level: logLevelOf(env), format: logFormatOf(env.ZAPAS_LOG_FORMAT, 'json') });
  return shared;
}

/** Forgets the process logger (tests that change the environment). */
export function resetProcessLogger(): void {
  shared = undefined;
}
