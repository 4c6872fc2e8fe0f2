import { createLogger, type LoggerOptions, logFormatOf, logLevelOf, REDACTED } from '../../lib/pipeline/log';
import {
  correlationIdOfBody,
  correlationIdOr,
  currentCorrelationId,
  isCorrelationId,
  withCorrelation,
} from '../../lib/pipeline/log-context';
import { parseMessage, parsePlatformMessage, stageMessage } from '../../lib/pipeline/messages';

function capture(opts: LoggerOptions = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...opts, destination: { write: (l: string) => lines.push(l) } });
  return { logger, lines, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the logger', () => {
  it('writes one JSON object a line: level name, ISO time, message, fields', () => {
    const { logger, lines, json } = capture();
    logger.info({ event: 'job-queued', job: 'j-1' }, 'job-queued');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const [line] = json();
    expect(line).toMatchObject({ level: 'info', event: 'job-queued', job: 'j-1', msg: 'job-queued' });
    expect(new Date(line!.time as string).toISOString()).toBe(line!.time);
  });

  it('drops lines below its level', () => {
    const { logger, json } = capture({ level: 'warn' });
    logger.info('not shown');
    logger.debug('not shown');
    logger.warn('shown');
    logger.error('shown too');
    expect(json().map((l) => l.level)).toEqual(['warn', 'error']);
  });

  it('ZAPAS_LOG_LEVEL: info by default, any pino level, a wrong one said', () => {
    expect(logLevelOf({})).toBe('info');
    expect(logLevelOf({ ZAPAS_LOG_LEVEL: 'DEBUG' })).toBe('debug');
    expect(logLevelOf({ ZAPAS_LOG_LEVEL: 'silent' })).toBe('silent');
    expect(() => logLevelOf({ ZAPAS_LOG_LEVEL: 'loud\n{"x":1}' })).toThrow(
      'ZAPAS_LOG_LEVEL: "loud\\n{\\"x\\":1}" is not a level',
    );
    expect(logFormatOf(undefined, 'text')).toBe('text');
    expect(logFormatOf('JSON', 'text')).toBe('json');
    expect(() => logFormatOf('xml', 'json')).toThrow(/not one of json, text/);
  });

  it('redacts authorization headers, tokens, passwords, secrets and keys, at any of the first levels', () => {
    const secrets = {
      authorization: 'Bearer eyJ-top-level-value',
      headers: { authorization: 'Bearer eyJ-header-value', cookie: 'sid=cookie-value', 'x-api-key': 'xak-1' },
      request: { headers: { authorization: 'Basic deep-header-value' } },
      password: 'hunter2-password',
      user: { password: 'nested-password' },
      token: 'tok-plain',
      auth: { token: 'nested-token', accessToken: 'at-1', refreshToken: 'rt-1', idToken: 'it-1' },
      context: { token: { access_token: 'yc-iam-token' } },
      secret: 'shh-secret',
      oauth: { clientSecret: 'client-secret-1', secret: 'nested-secret' },
      aws: { secretAccessKey: 'AKIA-secret-access', sessionToken: 'session-tok' },
      api: { apiKey: 'api-key-1', privateKey: '-----BEGIN PRIVATE KEY----- pk' },
      repo: { masterKey: 'master-key-1', passphrase: 'pass-phrase-1' },
      source: { conninfo: 'host=db password=conninfo-pw' },
    };
    const values = [
      'eyJ-top-level-value',
      'eyJ-header-value',
      'cookie-value',
      'xak-1',
      'deep-header-value',
      'hunter2-password',
      'nested-password',
      'tok-plain',
      'nested-token',
      'at-1',
      'rt-1',
      'it-1',
      'yc-iam-token',
      'shh-secret',
      'client-secret-1',
      'nested-secret',
      'AKIA-secret-access',
      'session-tok',
      'api-key-1',
      'PRIVATE KEY',
      'master-key-1',
      'pass-phrase-1',
      'conninfo-pw',
    ];
    for (const format of ['json', 'text'] as const) {
      const { logger, lines } = capture({ format });
      logger.info(secrets, 'a request');
      logger.warn({ event: 'x', ...secrets }, 'again');
      const out = lines.join('');
      for (const v of values) expect(out).not.toContain(v);
      expect(out).toContain(REDACTED);
    }
    // What is not a secret stays: the message, other fields.
    const { logger, json } = capture();
    logger.info({ job: 'j-1', key: 'exports/a.ndjson', headers: { 'content-type': 'x' } }, 'kept');
    expect(json()[0]).toMatchObject({
      job: 'j-1',
      key: 'exports/a.ndjson',
      headers: { 'content-type': 'x' },
    });
    // And the object logged is not changed.
    expect(secrets.password).toBe('hunter2-password');
  });

  it('text format: time, level unless info, message, fields, correlation id', () => {
    const { logger, lines } = capture({ format: 'text' });
    withCorrelation('c-text-1', () => logger.warn({ job: 'j-1', n: 3 }, 'job j-1 retried'));
    logger.info('plain');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z warn: job j-1 retried job=j-1 n=3 \[c-text-1\]\n$/);
    expect(lines[1]).toMatch(/^\S+Z plain\n$/);
  });
});

describe('correlation ids', () => {
  it('every line logged in a scope carries its id (and stage), through awaits; none outside', async () => {
    const { logger, json } = capture();
    await withCorrelation(
      'req-42',
      async () => {
        logger.info('first');
        await new Promise((r) => setTimeout(r, 5));
        await Promise.resolve().then(() => logger.info('after an await'));
        withCorrelation('job-7', () => logger.info('inner'));
        logger.info('back');
      },
      'orchestrate',
    );
    logger.info('outside');
    expect(json().map((l) => [l.msg, l.correlationId, l.stage])).toEqual([
      ['first', 'req-42', 'orchestrate'],
      ['after an await', 'req-42', 'orchestrate'],
      ['inner', 'job-7', 'orchestrate'],
      ['back', 'req-42', 'orchestrate'],
      ['outside', undefined, undefined],
    ]);
  });

  it('a message carries one or gets a new one; a malformed one makes the message poison', () => {
    expect(correlationIdOfBody('{"type":"run-job","jobId":"j","correlationId":"abc-1"}')).toBe('abc-1');
    const fresh = correlationIdOfBody('{"type":"run-job","jobId":"j"}');
    expect(isCorrelationId(fresh)).toBe(true);
    expect(correlationIdOfBody('{"type":"run-job","jobId":"j"}')).not.toBe(fresh);
    expect(isCorrelationId(correlationIdOfBody('not json'))).toBe(true);
    expect(isCorrelationId(correlationIdOfBody('{"correlationId":"a b\\n"}'))).toBe(true);
    expect(correlationIdOfBody('{"correlationId":"a b\\n"}')).not.toBe('a b\n');

    expect(parseMessage(stageMessage, '{"type":"run-job","jobId":"j","correlationId":"abc-1"}')).toEqual({
      type: 'run-job',
      jobId: 'j',
      correlationId: 'abc-1',
    });
    for (const bad of ['', 'has space', 'line\nbreak', '"quote', 'x'.repeat(129), 42])
      expect(() =>
        parseMessage(stageMessage, JSON.stringify({ type: 'run-job', jobId: 'j', correlationId: bad })),
      ).toThrow(/correlationId/);
    expect(
      parsePlatformMessage('{"type":"backup-now","source":"s","correlationId":"platform-1"}').correlationId,
    ).toBe('platform-1');
  });

  it('correlationIdOr: the one given, else the scope, else a new one', () => {
    expect(correlationIdOr('given-1')).toBe('given-1');
    expect(withCorrelation('scope-1', () => correlationIdOr())).toBe('scope-1');
    expect(withCorrelation('scope-1', () => correlationIdOr('bad id'))).toBe('scope-1');
    expect(currentCorrelationId()).toBeUndefined();
    expect(isCorrelationId(correlationIdOr())).toBe(true);
  });
});
