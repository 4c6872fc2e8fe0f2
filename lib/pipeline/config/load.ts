/**
 * Reads zapas.yaml (or JSON, which is YAML too): shapes through the zod schema, then what spans fields —
 * references, cycles, crons, durations, and the minimums the law sets per data class. Every problem is
 * reported at once, each with the field's path and its line and column in the file.
 */
import { type Document, isMap, isPair, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';
import { validateTimeZone } from '../../policy/calendar';
import { type Duration, parseDuration, subtractDuration } from '../../policy/duration';
import { ConfigError, type ConfigIssue } from './errors';
import { CronError, validateCron } from './schedule';
import { configSchema, type SourceConfig, type ZapasConfig } from './schema';

export { ConfigError, type ConfigIssue } from './errors';

/** 402-FZ art. 29: accounting records are kept at least five years. */
const PAYMENT_MINIMUM = '5y';

/** Parses and checks a configuration's text; `file` names it in errors. */
export function parseConfig(text: string, file = 'zapas.yaml'): ZapasConfig {
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
  const parsed = configSchema.safeParse(doc.toJS());
  if (!parsed.success)
    throw new ConfigError(
      file,
      parsed.error.issues.flatMap((issue) => zodIssues(issue, doc, at)),
    );
  const config = parsed.data;
  const issues: ConfigIssue[] = [];
  const report = (path: (string | number)[], message: string) =>
    issues.push({
      path: path.join('.'),
      ...at((nodeAt(doc, path) ?? nearestNode(doc, path))?.range?.[0]),
      message,
    });
  checkConfig(config, report);
  if (issues.length > 0) throw new ConfigError(file, issues);
  return config;
}

type Report = (path: (string | number)[], message: string) => void;

function checkConfig(config: ZapasConfig, report: Report): void {
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
    if (!repo)
      report(
        [...at, 'repository'],
        `no repository "${source.repository}" (known: ${Object.keys(config.repositories).join(', ') || 'none'})`,
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
      else if (!config.sources[dep]) report([...at, 'after', i], `no source "${dep}"`);
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

/** Reads and checks the configuration file at `path`. */
export async function loadConfigFile(path: string): Promise<ZapasConfig> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseConfig(text, path);
}
