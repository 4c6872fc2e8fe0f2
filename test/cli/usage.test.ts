import { join } from 'node:path';
import { runCli } from '../support/cli';
import { useTempDir } from '../support/temp';

/** Wrong use of the command line: exit 2 with a message that names what to do. */
describe('zapas CLI usage errors', () => {
  const tmp = useTempDir();
  let repo = '';

  beforeAll(async () => {
    repo = join(tmp(), 'repo');
    expect((await runCli(['--repo', repo, 'init'])).code).toBe(0);
  });

  it('a bad number exits 2 naming the option and the value, before anything runs', async () => {
    for (const [verb, ...args] of [
      ['forget', '--keep-last', 'abc'],
      ['forget', '--keep-daily', '-1'],
      ['forget', '--keep-weekly', '1e3'],
      ['serve', '--port', '70000'],
      ['serve', '--tick', '0'],
    ] as const) {
      const r = await runCli(['--repo', repo, verb, ...args]);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(`${args[0]} takes a whole number`);
      expect(r.stderr).toContain(`"${args[1]}"`);
    }
  });

  it('key add without a new password names --new-password-file, not --password-file', async () => {
    const r = await runCli(['--repo', repo, 'key', 'add']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'set ZAPAS_NEW_PASSWORD or ZAPAS_NEW_PASSWORD_FILE, or pass --new-password-file',
    );
    const passwd = await runCli(['--repo', repo, 'key', 'passwd']);
    expect(passwd.stderr).toContain('or pass --new-password-file');
    const help = await runCli(['key', 'add', '--help']);
    expect(help.stdout).toMatch(/--new-password-file <file>\s+read the new password from a file/);
  });

  it('copy without a destination password names --to-password-file', async () => {
    const r = await runCli(['--repo', repo, 'copy', '--to', join(tmp(), 'other')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('or pass --to-password-file');
  });
});
