/**
 * Reads zapas.yaml (or JSON, which is YAML too): shapes through the zod schema, then what spans fields —
 * references, cycles, crons, durations, and the minimums the law sets per data class. Every problem is
 * reported at once, each with the field's path and its line and column in the file.
 */
import { dirname, resolve } from 'node:path';
import {
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from 'yaml';
import type { z } from 'zod';
import { validateTimeZone } from '../../policy/calendar';
import { type Duration, parseDuration, subtractDuration } from '../../policy/duration';
import { jwksLocation } from '../../security/settings';
import { ConfigError, type ConfigIssue } from './errors';
import { namesIn, salvageConfig } from './salvage';
import { CronError, validateCron } from './schedule';
import { configSchema, DATA_CLASSES, PROTOTYPE_NAMES, type SourceConfig, type ZapasConfig } from './schema';

export { ConfigError, type ConfigIssue } from './errors';

/** 402-FZ art. 29: accounting records are kept at least five years. */
const PAYMENT_MINIMUM = '5y';

/**
 * Largest configuration file read: a real one is a few KiB; anything near this is a mistake or an
 * attack on memory, refused before it is read or parsed.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Most nodes aliases may expand to (yaml's own measure): anchors and aliases stay usable for shared
 * settings, and a "billion laughs" file is refused instead of filling memory.
 */
export const MAX_CONFIG_ALIAS_COUNT = 100;

/** The names of the file's repositories and sources, as written (well-formed or not). */
type Names = ReturnType<typeof namesIn>;

/**
 * Parses and checks a configuration's text; `file` names it in errors. Shape problems and cross-field
 * ones come in one ConfigError: the cross-field checks run on every part that is well-formed.
 */
export function parseConfig(text: string, file = 'zapas.yaml'): ZapasConfig {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_CONFIG_BYTES) throw tooLarge(file, bytes);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return {};
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length > 0)
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', ...at(e.pos[0]), message: e.message.split('\n')[0]! })),
    );
  const raw = toPlainData(doc, file, at);
  const issues: ConfigIssue[] = [];
  // zod leaves a `__proto__` key out of a map without a word: every such key is found in the file.
  const reserved = prototypeKeys(doc.contents, []).map(({ path, key }) => ({
    path: path.join('.'),
    ...at(key.range?.[0]),
    message: `"${path.at(-1)}" is a property of every JavaScript object: not allowed as a name or a field`,
  }));
  issues.push(...reserved);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success)
    issues.push(
      ...parsed.error.issues
        .flatMap((issue) => zodIssues(issue, doc, at))
        .filter((i) => !reserved.some((r) => r.path === i.path)),
    );
  const checkable = parsed.success ? parsed.data : salvageConfig(raw);
  const report = (path: (string | number)[], message: string) =>
    issues.push({
      path: path.join('.'),
      ...at((nodeAt(doc, path) ?? nearestNode(doc, path))?.range?.[0]),
      message,
    });
  if (checkable) checkConfig(checkable, namesIn(raw), report);
  if (issues.length > 0) throw new ConfigError(file, byLine(issues));
  return parsed.data!;
}

/** The document as plain data; a file whose aliases expand too far is refused at its first alias. */
function toPlainData(
  doc: Document,
  file: string,
  at: (offset: number | undefined) => { line?: number; column?: number },
): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_CONFIG_ALIAS_COUNT });
  } catch (err) {
    // yaml throws a ReferenceError for an alias it cannot or will not resolve.
    if (!(err instanceof ReferenceError)) throw err;
    let first: Node | undefined;
    visit(doc, {
      Alias(_, node) {
        first = node;
        return visit.BREAK;
      },
    });
    throw new ConfigError(file, [
      {
        path: '',
        ...at(first?.range?.[0]),
        message: `aliases expand to more than ${MAX_CONFIG_ALIAS_COUNT} nodes (${err.message}): refused`,
      },
    ]);
  }
}

/** Every map key of the document that is a prototype name, with its path. */
function prototypeKeys(node: unknown, path: (string | number)[]): { path: (string | number)[]; key: Node }[] {
  if (isSeq(node)) return node.items.flatMap((item, i) => prototypeKeys(item, [...path, i]));
  if (!isMap(node)) return [];
  return node.items.flatMap((pair) => {
    if (!isScalar(pair.key)) return [];
    const name = String(pair.key.value);
    const here = [...path, name];
    return [
      ...(PROTOTYPE_NAMES.has(name) ? [{ path: here, key: pair.key as Node }] : []),
      ...prototypeKeys(pair.value, here),
    ];
  });
}

function tooLarge(file: string, bytes: number): ConfigError {
  return new ConfigError(file, [
    {
      path: '',
      message: `the file has ${bytes} bytes, more than a configuration may have (${MAX_CONFIG_BYTES}, 4 MiB)`,
    },
  ]);
}

/** Issues in the order of the file (those of the file itself first); the same line keeps its order. */
function byLine(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || a.i - b.i)
    .map((x) => x.issue);
}

type Report = (path: (string | number)[], message: string) => void;

function checkConfig(config: ZapasConfig, names: Names, report: Report): void {
  tryOr(
    () => validateTimeZone(config.timezone),
    (m) => report(['timezone'], m),
  );
  tryOr(
    () => validateCron(config.purge.schedule, 'UTC'), // its zone is the file's, checked above
    (m) => report(['purge', 'schedule'], m),
  );
  tryOr(
    () => parseDuration(config.purge.grace),
    (m) => report(['purge', 'grace'], m),
  );
  for (const [id, source] of Object.entries(config.sources)) {
    const at = ['sources', id];
    const repo = config.repositories[source.repository];
    // A repository the file defines but gets wrong has its own problems reported; it is not missing.
    if (!repo && !names.repositories.has(source.repository))
      report(
        [...at, 'repository'],
        `no repository "${source.repository}" (known: ${[...names.repositories].join(', ') || 'none'})`,
      );
    source.schedules.forEach((s, i) => {
      try {
        validateCron(s.cron, s.timezone ?? config.timezone);
      } catch (err) {
        // A bad zone of the schedule's own is reported there; the file's zone was reported above.
        const field = err instanceof CronError || !s.timezone ? 'cron' : 'timezone';
        report([...at, 'schedules', i, field], (err as Error).message);
      }
      if (s.type !== 'auto' && source.type !== 'postgres')
        report(
          [...at, 'schedules', i, 'type'],
          `full/incr applies to postgres sources; a ${source.type} source is always incremental`,
        );
    });
    if (source.verify.schedule !== 'after-each')
      tryOr(
        () => validateCron(source.verify.schedule, config.timezone),
        (m) => report([...at, 'verify', 'schedule'], `"after-each" or a cron: ${m}`),
      );
    if (source.verify.depth === 'restore' && source.type !== 'postgres')
      report([...at, 'verify', 'depth'], 'restore verification is for postgres sources (zapas pg verify)');
    for (const [i, dep] of source.after.entries()) {
      if (dep === id) report([...at, 'after', i], 'a source cannot wait for itself');
      else if (!names.sources.has(dep)) report([...at, 'after', i], `no source "${dep}"`);
    }
    checkRetention(source, at, report);
    if (
      source.dataClass === 'personal' &&
      repo &&
      repo.residency !== undefined &&
      repo.residency.toUpperCase() !== 'RU'
    )
      report(
        [...at, 'repository'],
        `personal data goes to a repository in Russia (152-FZ art. 18 p. 5); "${source.repository}" has residency ${repo.residency}`,
      );
  }
  for (const cycle of cycles(config))
    report(['sources', cycle[0]!, 'after'], `jobs wait for each other in a cycle: ${cycle.join(' → ')}`);
  checkAccess(config, names, report);
}

/** `auth.keyRepository` is a repository of the file; access rules name its sources and known data classes. */
function checkAccess(config: ZapasConfig, names: Names, report: Report): void {
  const keyRepository = config.auth?.keyRepository;
  if (keyRepository !== undefined && !names.repositories.has(keyRepository))
    report(
      ['auth', 'keyRepository'],
      `no repository "${keyRepository}" (known: ${[...names.repositories].join(', ') || 'none'})`,
    );
  const classes: readonly string[] = DATA_CLASSES;
  config.access?.forEach((rule, i) => {
    rule.sources?.forEach((source, j) => {
      if (!names.sources.has(source))
        report(
          ['access', i, 'sources', j],
          `no source "${source}" (known: ${[...names.sources].join(', ') || 'none'})`,
        );
    });
    rule.dataClasses?.forEach((dataClass, j) => {
      if (!classes.includes(dataClass))
        report(
          ['access', i, 'dataClasses', j],
          `no data class "${dataClass}" (one of ${classes.join(', ')})`,
        );
    });
  });
}

function checkRetention(source: SourceConfig, at: string[], report: Report): void {
  const r = source.retention;
  const durations: Partial<Record<'keepWithin' | 'minimum' | 'maximum', Duration>> = {};
  for (const key of ['keepWithin', 'minimum', 'maximum'] as const) {
    const text = r[key];
    if (text !== undefined)
      tryOr(
        () => (durations[key] = parseDuration(text)),
        (m) => report([...at, 'retention', key], m),
      );
  }
  const { minimum, maximum } = durations;
  if (minimum && maximum && longer(minimum, maximum))
    report(
      [...at, 'retention', 'minimum'],
      `the minimum (${r.minimum}) is longer than the maximum (${r.maximum})`,
    );
  if (source.dataClass === 'payment' && (!minimum || longer(parseDuration(PAYMENT_MINIMUM), minimum)))
    report(
      [...at, 'retention', minimum ? 'minimum' : ''].filter(Boolean),
      `payment data is kept at least ${PAYMENT_MINIMUM} (402-FZ art. 29): set retention.minimum to ${PAYMENT_MINIMUM} or more`,
    );
  if (source.dataClass === 'personal' && !maximum)
    report(
      [...at, 'retention'],
      'personal data is kept no longer than its purpose (152-FZ art. 5 p. 7): set retention.maximum',
    );
}

/** True when `a` reaches further back than `b` from the same instant. */
function longer(a: Duration, b: Duration): boolean {
  const now = new Date(Date.UTC(2026, 0, 1));
  return subtractDuration(now, a).getTime() < subtractDuration(now, b).getTime();
}

/** Each cycle of `after` edges once, as the list of sources around it (first repeated last). */
function cycles(config: ZapasConfig): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 'open');
    stack.push(id);
    for (const dep of config.sources[id]?.after ?? []) {
      if (!config.sources[dep] || dep === id) continue;
      if (state.get(dep) === 'open') found.push([...stack.slice(stack.indexOf(dep)), dep]);
      else if (!state.has(dep)) visit(dep);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of Object.keys(config.sources)) if (!state.has(id)) visit(id);
  return found;
}

function tryOr(fn: () => unknown, onError: (message: string) => void): void {
  try {
    fn();
  } catch (err) {
    onError((err as Error).message);
  }
}

/** Issues of one zod issue: unknown keys are reported one each, at the key itself. */
function zodIssues(
  issue: z.core.$ZodIssue,
  doc: Document,
  at: (offset: number | undefined) => { line?: number; column?: number },
): ConfigIssue[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({
      path: [...path, key].join('.'),
      ...at(keyNodeAt(doc, path, key)?.range?.[0]),
      message: 'unknown field',
    }));
  if (issue.code === 'invalid_key') {
    // A bad name of a map: reported at the name, with what is wrong with it (the entry is not read).
    const key = String(path.at(-1));
    return issue.issues.map((inner) => ({
      path: path.join('.'),
      ...at((keyNodeAt(doc, path.slice(0, -1), key) ?? nodeAt(doc, path))?.range?.[0]),
      message: inner.message,
    }));
  }
  const node = nodeAt(doc, path);
  const message = node === undefined && issue.code === 'invalid_type' ? 'missing (required)' : issue.message;
  return [{ path: path.join('.'), ...at(node?.range?.[0] ?? nearestNode(doc, path)?.range?.[0]), message }];
}

function nodeAt(doc: Document, path: readonly (string | number)[]): Node | undefined {
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return node && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
}

/** The closest ancestor of `path` present in the file (a missing field is reported at its parent). */
function nearestNode(doc: Document, path: readonly (string | number)[]): Node | undefined {
  for (let n = path.length - 1; n >= 0; n--) {
    const node = nodeAt(doc, path.slice(0, n));
    if (node) return node;
  }
  return undefined;
}

function keyNodeAt(doc: Document, path: readonly (string | number)[], key: string): Node | undefined {
  const parent = nodeAt(doc, path);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
  return pair && isScalar(pair.key) ? pair.key : undefined;
}

/**
 * Reads and checks the configuration file at `path`; one over MAX_CONFIG_BYTES is refused unread. A JWKS
 * file named by `auth.jwks` is taken relative to the file's folder (parseConfig, given text alone, leaves
 * it as written).
 */
export async function loadConfigFile(path: string): Promise<ZapasConfig> {
  const { open } = await import('node:fs/promises');
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_CONFIG_BYTES) throw tooLarge(path, size);
      // Read one byte past the limit: a file that grows after the stat (or a device) is refused too.
      const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > MAX_CONFIG_BYTES) throw tooLarge(path, length);
      }
      text = buf.toString('utf8', 0, length);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(path, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return withJwksFrom(parseConfig(text, path), dirname(resolve(path)));
}

/** The configuration with a relative JWKS file path made absolute from `baseDir`. */
function withJwksFrom(config: ZapasConfig, baseDir: string): ZapasConfig {
  if (!config.auth) return config;
  const location = jwksLocation(config.auth.jwks);
  if (location.kind !== 'file') return config;
  return { ...config, auth: { ...config.auth, jwks: resolve(baseDir, location.path) } };
}
