/**
 * The runtime's repository password from Secrets Manager: a failed fetch (a throttle, a network blip at a
 * cold start) is not kept, so the next invocation of the same instance asks again and opens the repository.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeRuntime } from '../../functions/common/runtime';
import { ENV } from '../../lib/infra/env';
import { makeTempRepo, TEST_PASSWORD, WEAK_KDF_ENV } from '../support/repo';

let server: Server;
let calls = 0;
const saved = { ...process.env };

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls++;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (calls === 1) {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'not yet' }));
        return;
      }
      res.end(
        JSON.stringify({ ARN: 'arn:aws:secretsmanager:ru-1:1:secret:pw', SecretString: TEST_PASSWORD }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: 'ru-1',
  });
});

afterAll(async () => {
  process.env = saved;
  await new Promise<void>((r) => server.close(() => r()));
});

it('a password secret that could not be fetched once is fetched again, and the repository opens', async () => {
  const { dir } = await makeTempRepo();
  const rt = makeRuntime(
    {
      ...WEAK_KDF_ENV,
      [ENV.config]: JSON.stringify({
        version: 1,
        repositories: { main: { url: dir, residency: 'RU' } },
        sources: {
          saves: { type: 'files', paths: ['/saves'], repository: 'main', dataClass: 'game-content' },
        },
      }),
      [ENV.catalogTable]: 'unused',
      [ENV.region]: 'ru-1',
      [ENV.passwordSecret]: 'arn:aws:secretsmanager:ru-1:1:secret:pw',
    },
    'test',
  );
  await expect(rt.repository('main')).rejects.toThrow(/not yet/);
  const repo = await rt.repository('main');
  expect(repo.config.id).toMatch(/^[0-9a-f]+$/);
  expect(calls).toBe(2);
});
