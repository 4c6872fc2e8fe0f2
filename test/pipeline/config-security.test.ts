import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfigFile, parseConfig } from '../../lib/pipeline/config/load';
import { useTempDir } from '../support/temp';
import { BASE } from './config-base';

const tempDir = useTempDir();

const FILE = `${BASE}  payments:
    type: postgres
    conninfo: "host=db"
    repository: main
    dataClass: payment
    retention: { minimum: 5y }
`;

const AUTH = `auth:
  issuer: https://id.example.org
  audience: zapas
  jwks: ./jwks.json
`;

/** `path@line: message` of each problem of the file with `extra` appended. */
function issuesWith(extra: string): string[] {
  try {
    parseConfig(FILE + extra, 'zapas.yaml');
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.issues.map((i) => `${i.path}@${i.line ?? '-'}: ${i.message}`);
  }
}

/** The line number (1-based) of the first line of FILE + extra that contains `text`. */
const lineOf = (extra: string, text: string) =>
  (FILE + extra).split('\n').findIndex((l) => l.includes(text)) + 1;

describe('configuration: auth and access', () => {
  it('both are optional; given, they are read as written', () => {
    const plain = parseConfig(FILE);
    expect(plain.auth).toBeUndefined();
    expect(plain.access).toBeUndefined();
    const config = parseConfig(`${FILE}${AUTH}access:
  - sources: [payments]
    roles: [dba]
    allow: [backup, restore, read]
  - dataClasses: [game-content]
    roles: [operator, auditor]
    allow: [read]
`);
    expect(config.auth).toEqual({ issuer: 'https://id.example.org', audience: 'zapas', jwks: './jwks.json' });
    expect(config.access).toEqual([
      { sources: ['payments'], roles: ['dba'], allow: ['backup', 'restore', 'read'] },
      { dataClasses: ['game-content'], roles: ['operator', 'auditor'], allow: ['read'] },
    ]);
    // An empty list is kept: every role but admin is then refused on every source.
    expect(parseConfig(`${FILE}access: []\n`).access).toEqual([]);
  });

  it('a JWKS file is taken relative to the configuration file; a URL or an absolute path as written', async () => {
    const dir = join(tempDir(), 'etc');
    await mkdir(dir);
    const file = join(dir, 'zapas.yaml');
    await writeFile(file, FILE + AUTH);
    expect((await loadConfigFile(file)).auth!.jwks).toBe(join(dir, 'jwks.json'));
    await writeFile(file, FILE + AUTH.replace('./jwks.json', '/keys/jwks.json'));
    expect((await loadConfigFile(file)).auth!.jwks).toBe('/keys/jwks.json');
    const url = 'https://id.example.org/.well-known/jwks.json';
    await writeFile(file, FILE + AUTH.replace('./jwks.json', url));
    expect((await loadConfigFile(file)).auth!.jwks).toBe(url);
  });

  it('auth: every field required, no other field, a jwks that is a path or an https URL', () => {
    const missing = 'auth:\n  issuer: https://id.example.org\n';
    expect(issuesWith(missing)).toEqual([
      // at the section, which has no such field
      `auth.audience@${lineOf(missing, 'issuer')}: missing (required)`,
      `auth.jwks@${lineOf(missing, 'issuer')}: missing (required)`,
    ]);
    const extra = `${AUTH}  secret: hunter2\n`;
    expect(issuesWith(extra)).toEqual([`auth.secret@${lineOf(extra, 'secret')}: unknown field`]);
    for (const [jwks, message] of [
      ['http://id.example.org/jwks', /http:\/\/ is allowed only for a loopback address/],
      ['file:///etc/jwks.json', /a JWKS file path or an https:\/\/ URL, not a file: URL/],
      ['https://me:pw@id.example.org/jwks', /must not hold a user name or password/],
      ['""', /a JWKS file path or an https:\/\/ URL/],
    ] as const) {
      const text = AUTH.replace('./jwks.json', jwks);
      expect(issuesWith(text)).toEqual([expect.stringMatching(`^auth\\.jwks@${lineOf(text, 'jwks')}: `)]);
      expect(issuesWith(text)[0]).toMatch(message);
    }
    expect(issuesWith(AUTH.replace('./jwks.json', 'http://127.0.0.1:8080/jwks'))).toEqual([]);
    expect(issuesWith(AUTH.replace('audience: zapas', 'audience: ""'))).toEqual([
      expect.stringMatching(/^auth\.audience@\d+: .*"aud"/),
    ]);
  });

  it('auth.keyRepository names a repository of the file, never a prototype name', () => {
    expect(parseConfig(`${FILE}${AUTH}  keyRepository: main\n`).auth?.keyRepository).toBe('main');
    const other = `${AUTH}  keyRepository: vault\n`;
    expect(issuesWith(other)).toEqual([
      `auth.keyRepository@${lineOf(other, 'vault')}: no repository "vault" (known: main)`,
    ]);
    const proto = `${AUTH}  keyRepository: toString\n`;
    expect(issuesWith(proto)).toEqual([
      `auth.keyRepository@${lineOf(proto, 'toString')}: "toString" cannot be a repository name: every JavaScript object has a property of that name`,
    ]);
  });

  it('access rules name sources and data classes that exist, roles and actions that exist', () => {
    const refs = `access:
  - sources: [payments, nope]
    roles: [dba]
    allow: [backup]
  - dataClasses: [payment, secrets]
    roles: [auditor]
    allow: [read]
`;
    expect(issuesWith(refs)).toEqual([
      `access.0.sources.1@${lineOf(refs, 'nope')}: no source "nope" (known: saves, payments)`,
      `access.1.dataClasses.1@${lineOf(refs, 'secrets')}: no data class "secrets" (one of personal, payment, game-content, telemetry, default)`,
    ]);
    const names = `access:
  - sources: [payments]
    roles: [dba, root]
    allow: [backup, steal]
`;
    expect(issuesWith(names)).toEqual([
      `access.0.roles.1@${lineOf(names, 'root')}: unknown role "root" (one of admin, operator, dba, auditor, service, player)`,
      `access.0.allow.1@${lineOf(names, 'steal')}: unknown action "steal" (one of read, backup, restore, delete, hold, release-hold, change-policy, manage-keys, read-audit, enrol)`,
    ]);
  });

  it('a rule names what it is for, at least one role and one action, and no other field', () => {
    const text = `access:
  - roles: [dba]
    allow: [read]
  - sources: [saves]
    roles: []
    allow: []
  - sources: [saves]
    roles: [dba]
    allow: [read]
    deny: [restore]
`;
    expect(issuesWith(text)).toEqual([
      `access.0@${lineOf(text, 'roles: [dba]')}: a rule names the sources or the dataClasses it is for`,
      `access.1.roles@${lineOf(text, 'roles: []')}: at least one role`,
      `access.1.allow@${lineOf(text, 'allow: []')}: at least one action`,
      `access.2.deny@${lineOf(text, 'deny')}: unknown field`,
    ]);
    expect(issuesWith('access: { sources: [saves] }\n')).toEqual([
      expect.stringMatching(/^access@\d+: .*array/),
    ]);
  });

  it('prototype names are refused as sources, data classes, roles and actions of a rule', () => {
    const text = `access:
  - sources: [__proto__, constructor]
    dataClasses: [toString]
    roles: [__proto__, constructor]
    allow: [constructor, hasOwnProperty]
`;
    const line = (t: string) => lineOf(text, `${t}: [`);
    expect(issuesWith(text)).toEqual([
      `access.0.sources.0@${line('sources')}: "__proto__" cannot be a source name: every JavaScript object has a property of that name`,
      `access.0.sources.1@${line('sources')}: "constructor" cannot be a source name: every JavaScript object has a property of that name`,
      `access.0.dataClasses.0@${line('dataClasses')}: "toString" cannot be a data class name: every JavaScript object has a property of that name`,
      expect.stringMatching(`^access\\.0\\.roles\\.0@${line('roles')}: unknown role "__proto__"`),
      expect.stringMatching(`^access\\.0\\.roles\\.1@${line('roles')}: unknown role "constructor"`),
      expect.stringMatching(`^access\\.0\\.allow\\.0@${line('allow')}: unknown action "constructor"`),
      expect.stringMatching(`^access\\.0\\.allow\\.1@${line('allow')}: unknown action "hasOwnProperty"`),
    ]);
    // As a key of a rule or of auth.
    const keyed = `${AUTH}  __proto__: { issuer: x }\naccess:\n  - sources: [saves]\n    roles: [dba]\n    allow: [read]\n    constructor: [admin]\n`;
    expect(issuesWith(keyed)).toEqual([
      `auth.__proto__@${lineOf(keyed, '__proto__')}: "__proto__" is a property of every JavaScript object: not allowed as a name or a field`,
      `access.0.constructor@${lineOf(keyed, 'constructor')}: "constructor" is a property of every JavaScript object: not allowed as a name or a field`,
    ]);
  });

  it("the sample's auth and access sections, uncommented, are valid", async () => {
    const sample = await readFile(join(__dirname, '..', '..', 'examples', 'zapas.yaml'), 'utf8');
    const uncommented = sample.replace(/^# ((?:auth|access):| {2}.*)$/gm, '$1');
    const config = parseConfig(uncommented);
    expect(config.auth).toEqual({
      issuer: 'https://id.example.org',
      audience: 'zapas',
      jwks: 'https://id.example.org/.well-known/jwks.json',
    });
    expect(config.access?.map((r) => r.roles)).toEqual([['dba'], ['operator']]);
  });

  it('a bad auth section does not hide the problems of the rest of the file', () => {
    const text = `${AUTH.replace('./jwks.json', 'ftp://x/jwks')}access:\n  - sources: [nope]\n    roles: [dba]\n    allow: [read]\n`;
    expect(issuesWith(text)).toEqual([
      expect.stringMatching(/^auth\.jwks@\d+: .*ftp: URL/),
      expect.stringMatching(/^access\.0\.sources\.0@\d+: no source "nope"/),
    ]);
  });
});
