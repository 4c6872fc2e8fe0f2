import { type AuditHead, readCatalogHead } from '../../audit/audit-log';
import type { AuditEvent } from '../../audit/event';
import { readAuditEvents } from '../../audit/read-events';
import { verifyAuditTrail } from '../../audit/verify';
import { openCatalogFolder } from '../../catalog/catalog-folder';
import { parseDuration, subtractDuration } from '../../policy/duration';
import type { Repository } from '../../repo/repository';
import { openRepo } from '../context';
import { UsageError } from '../errors';
import { printJson } from '../io';
import type { Verb } from '../verb';

/*
 * Reading and checking the trail is not itself recorded by the CLI: whoever holds the repository
 * password can read it anyway, and a trail too damaged to append to must still be readable.
 */

const log: Verb = {
  name: 'log',
  summary: 'print the audit trail: who did or was refused what, when, and why',
  configure: (cmd) =>
    cmd
      .option('--since <time>', 'only events from this moment (ISO 8601) or this long ago (e.g. 24h, 7d)')
      .option('--json', 'one JSON object per event, as stored'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    const since = opts.since === undefined ? undefined : parseSince(opts.since as string);
    const repo = await openRepo(ctx);
    let damaged = 0;
    for await (const r of readAuditEvents(repo, since ? { since } : {})) {
      if ('error' in r) {
        damaged++;
        ctx.io.stderr.write(`error: ${r.error.message}\n`);
      } else if (opts.json) printJson(ctx.io, r.event);
      else ctx.io.stdout.write(`${eventLine(r.event)}\n`);
    }
    if (damaged > 0) ctx.io.stderr.write(`${damaged} event(s) do not open: run \`zapas audit verify\`\n`);
    return damaged === 0 ? 0 : 1;
  },
};

const verify: Verb = {
  name: 'verify',
  summary: 'check the audit trail: no event missing, altered, out of order, or cut off the end',
  configure: (cmd) =>
    cmd
      .option('--state <dir>', "compare with the head kept in this folder's catalog (zapas serve --state)")
      .option('--head <seq:hash>', 'compare with a head recorded elsewhere (as this verb prints it)')
      .option('--json', 'print the verdict as JSON'),
  exits: [0, 1, 2, 10, 12],
  async run(_args, opts, ctx) {
    if (opts.state && opts.head) throw new UsageError('give --state or --head, not both');
    const given = opts.head === undefined ? undefined : parseHead(opts.head as string);
    const repo = await openRepo(ctx);
    const catalogHead = given ?? (opts.state ? await stateHead(opts.state as string, repo) : undefined);
    const verdict = await verifyAuditTrail(repo, catalogHead ? { catalogHead } : {});
    if (opts.json) printJson(ctx.io, verdict);
    else if (verdict.ok)
      ctx.io.stdout.write(
        `audit trail whole: ${verdict.events} event(s), head ${verdict.head.seq}:${verdict.head.hash}\n`,
      );
    else {
      const p = verdict.problem!;
      ctx.io.stdout.write(
        `audit trail broken at event ${p.seq} (${p.object}): ${p.kind}: ${printable(p.detail)}\n` +
          `${verdict.events} event(s) before it are whole\n`,
      );
    }
    return verdict.ok ? 0 : 1;
  },
};

export const audit: Verb = {
  name: 'audit',
  summary: 'read and check the audit trail',
  exits: [0, 1, 2, 10, 12],
  subverbs: [log, verify],
  run: async () => 2,
};

/** One event as a line: time, principal, action, target, outcome, reason, correlation id. */
export function eventLine(e: AuditEvent): string {
  const who = `${e.principal.kind}:${e.principal.subject}${e.principal.roles.length ? `(${e.principal.roles.join(',')})` : ''}`;
  const target = Object.entries(e.target)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const fields = [
    String(e.seq).padStart(6),
    e.time,
    who,
    e.action,
    `[${target}]`,
    e.outcome,
    ...(e.reason ? [`reason=${JSON.stringify(e.reason)}`] : []),
    `id=${e.correlationId}`,
    `via=${e.origin}${e.address ? `@${e.address}` : ''}`,
  ];
  return printable(fields.join('  '));
}

/** Control characters (an escape sequence in a stored name) shown as \u escapes, never sent to the terminal. */
function printable(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function parseSince(text: string): Date {
  if (/^\d+[a-z]/i.test(text) && !/^\d{4}-/.test(text)) {
    try {
      return subtractDuration(new Date(), parseDuration(text));
    } catch (err) {
      throw new UsageError(`--since: ${(err as Error).message}`);
    }
  }
  const ms = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\d/.test(text) || Number.isNaN(ms))
    throw new UsageError(
      `--since takes a moment (2026-03-01T12:00:00Z) or a duration (24h, 7d), not "${text}"`,
    );
  return new Date(ms);
}

function parseHead(text: string): AuditHead {
  const m = /^(\d{1,16}):([0-9a-f]{64})$/.exec(text);
  if (!m || Number(m[1]) < 1)
    throw new UsageError(`--head takes SEQ:HASH (as \`zapas audit verify\` prints it), not "${text}"`);
  return { seq: Number(m[1]), hash: m[2]! };
}

async function stateHead(dir: string, repo: Repository): Promise<AuditHead | undefined> {
  const catalog = await openCatalogFolder(dir);
  try {
    return await readCatalogHead(catalog, repo.config.id);
  } finally {
    catalog.close();
  }
}
