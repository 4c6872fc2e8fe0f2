/**
 * runStarted (the verify function, the agent) when the audit trail cannot be written: the job's end is
 * still logged (the job-failed alarms read that line), then the audit error is thrown.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runStarted } from '../../functions/common/run-started';
import type { Runtime } from '../../functions/common/runtime';
import { EmbeddedCatalog } from '../../lib/catalog/embedded-catalog';
import { parseConfig } from '../../lib/pipeline/config/load';
import { acceptMessage, startReady } from '../../lib/pipeline/orchestrate';
import type { ServiceSecurity } from '../../lib/pipeline/service-security';
import { makeTempRepo } from '../support/repo';
import { makeTempDir } from '../support/temp';

it('a job whose end the trail cannot record is logged all the same, then the audit error is thrown', async () => {
  const dir = await makeTempDir();
  await mkdir(join(dir, 'saves'));
  await writeFile(join(dir, 'saves', 'player-1.sav'), 'level 7');
  const config = parseConfig(`version: 1
repositories:
  games: { url: ./games, residency: RU }
sources:
  saves:
    type: files
    paths: ["${join(dir, 'saves')}"]
    repository: games
    dataClass: game-content
    events: [backup-now]
`);
  const catalog = await EmbeddedCatalog.open();
  const { repo } = await makeTempRepo();
  await acceptMessage(
    config,
    catalog,
    { id: 'm1', body: '{"type":"backup-now","source":"saves"}' },
    new Date(),
  );
  const [started] = await startReady(config, catalog, 'w', new Date());
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const rt = {
    config,
    catalog,
    env: {},
    repository: async () => repo,
    log: (event: string, fields?: Record<string, unknown>) => lines.push([event, fields]),
    security: {
      record: async () => {
        throw new Error('audit storage down');
      },
    } as unknown as ServiceSecurity,
  } as unknown as Runtime;
  await expect(runStarted(rt, started!.job.id)).rejects.toThrow('audit storage down');
  expect((await catalog.getJob(started!.job.id))?.state).toBe('succeeded');
  expect(lines.map(([event]) => event)).toContain('job-succeeded');
});
