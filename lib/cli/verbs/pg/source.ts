import type { VerbContext } from '../../context';
import { UsageError } from '../../errors';
import type { VerbOptions } from '../../verb';

/** The PostgreSQL source a pg verb works on: --source, else ZAPAS_PG_SOURCE (archive_command and restore_command set it). */
export function pgSource(ctx: VerbContext, opts: VerbOptions): string {
  const source = (opts.source as string | undefined) ?? ctx.io.env.ZAPAS_PG_SOURCE;
  if (!source) throw new UsageError('no PostgreSQL source given: pass --source NAME or set ZAPAS_PG_SOURCE');
  return source;
}

/** The --source option every pg verb takes. */
export const SOURCE_OPTION = ['--source <name>', 'the PostgreSQL source (env ZAPAS_PG_SOURCE)'] as const;
