import {
  createLogger,
  LOG_FORMATS,
  type LogFormat,
  type LogLevel,
  logFormatOf,
  logLevelOf,
} from '../../pipeline/log';
import { UsageError } from '../errors';
import { LocalService } from '../serve/local-service';
import { claimStopSignals } from '../signals';
import { intOption, type Verb } from '../verb';

/** What stops serve gracefully. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** `zapas serve`: the service on one machine (API on loopback, schedules, queue, jobs), until SIGINT/SIGTERM. */
export const serveVerb: Verb = {
  name: 'serve',
  summary: 'run the whole service on this machine: HTTP API on 127.0.0.1, schedules, queue, backups',
  configure: (cmd) =>
    cmd
      .requiredOption('--config <file>', 'the configuration (zapas.yaml or JSON)')
      .option('--port <n>', 'HTTP port (0: any free one)', intOption('--port', { max: 65535 }), 8720)
      .option(
        '--host <address>',
        'address to listen on (loopback only unless the configuration has auth:)',
        '127.0.0.1',
      )
      .option('--state <dir>', 'folder of the embedded catalog (default: .zapas-state beside the config)')
      .option(
        '--tick <seconds>',
        'how often schedules and queued jobs are looked at',
        intOption('--tick', { min: 1 }),
        5,
      )
      .option('--init', 'create configured folder repositories that do not exist yet')
      .option(
        '--log-format <format>',
        `how the log on stderr is written: ${LOG_FORMATS.join(' or ')} (one JSON object a line; default text, or ZAPAS_LOG_FORMAT)`,
      ),
  exits: [0, 1, 2],
  async run(_args, opts, ctx) {
    let format: LogFormat;
    let level: LogLevel;
    try {
      format = logFormatOf((opts.logFormat as string) ?? ctx.io.env.ZAPAS_LOG_FORMAT, 'text');
      level = logLevelOf(ctx.io.env);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const logger = createLogger({ format, level, destination: ctx.io.stderr });
    // Listening for the signals before anything is announced: a SIGTERM sent the moment the API line
    // appears (a supervisor, a test) would otherwise meet Node's default action and kill the process
    // mid-way, with the catalog and the state folder's lock left for the kernel to drop.
    let onSignal: (signal: NodeJS.Signals) => void = () => undefined;
    const stopped = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
    for (const s of STOP_SIGNALS) process.once(s, onSignal);
    const releaseSignals = claimStopSignals();
    try {
      const service = await LocalService.start({
        configFile: opts.config as string,
        host: opts.host as string,
        port: opts.port as number,
        tickMs: Math.max(1, opts.tick as number) * 1000,
        ...(opts.state ? { stateDir: opts.state as string } : {}),
        init: Boolean(opts.init),
        env: ctx.io.env,
        ...(ctx.io.workerScript && ctx.io.env.ZAPAS_WORKERS !== '0'
          ? { workerScript: ctx.io.workerScript }
          : {}),
        logger,
      });
      ctx.io.stdout.write(
        `zapas serve: API on ${service.url}/v1 (${Object.keys(service.config.sources).length} sources)\n`,
      );
      const signal = await stopped;
      logger.info(`${signal}: finishing running jobs, then stopping`);
      await service.stop();
      logger.info('stopped');
    } finally {
      // A start that failed leaves no listener behind (the CLI also runs inside other processes).
      for (const s of STOP_SIGNALS) process.removeListener(s, onSignal);
      releaseSignals();
    }
    return 0;
  },
};
