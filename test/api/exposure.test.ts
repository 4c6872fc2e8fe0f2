import { authConfigured, isLoopback, servedHosts } from '../../lib/api/exposure';
import { testConfig } from './support';

describe('exposure', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.20', false],
    ['10.0.0.5', false],
    ['128.0.0.1', false],
    ['127.0.0.1.evil.example', false],
    ['localhost.evil.example', false],
    ['::ffff:10.0.0.1', false],
  ])('isLoopback(%s) is %s', (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });

  it('a loopback server answers to its address and the loopback names, plus the configured ones', () => {
    expect([...servedHosts('127.0.0.1', ['Backup.Internal'])].sort()).toEqual(
      ['127.0.0.1', '[::1]', 'backup.internal', 'localhost'].sort(),
    );
    expect(servedHosts('::1', [])).toEqual(new Set(['[::1]', 'localhost', '127.0.0.1']));
  });

  it('a server on a LAN address answers to that address only, unless names are configured', () => {
    expect(servedHosts('192.168.1.20', [])).toEqual(new Set(['192.168.1.20']));
  });

  it('a wildcard server answers to every interface address', () => {
    const hosts = servedHosts('0.0.0.0', []);
    expect(hosts.has('127.0.0.1')).toBe(true);
    expect(hosts.has('evil.example')).toBe(false);
  });

  it('auth is configured when the configuration has an auth section', () => {
    expect(authConfigured(testConfig())).toBe(false);
    expect(authConfigured({ ...testConfig(), auth: { issuer: 'https://id.example' } } as never)).toBe(true);
  });
});
