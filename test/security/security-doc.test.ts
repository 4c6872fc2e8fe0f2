import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTIONS, PERMISSIONS } from '../../lib/security/permissions';
import { ROLES } from '../../lib/security/principal';
import { ALGORITHMS, CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_CHARS } from '../../lib/security/tokens';

const DOC = readFileSync(join(__dirname, '..', '..', 'docs', 'security.md'), 'utf8');

/** The cells of the markdown table whose header row starts with `first`, row by row (header first). */
function table(first: string): string[][] {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\|\\s*${first}\\s*\\|`).test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  const rows: string[][] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim().replace(/^`(.*)`$/, '$1')),
    );
  }
  return rows.filter((_, i) => i !== 1); // the --- row
}

describe('docs/security.md', () => {
  it('prints the permission table exactly as PERMISSIONS has it', () => {
    const [header, ...rows] = table('action');
    expect(header).toEqual(['action', ...ROLES]);
    const printed = Object.fromEntries(
      rows.map(([action, ...cells]) => [
        action,
        Object.fromEntries(ROLES.flatMap((role, i) => (cells[i] === '–' ? [] : [[role, cells[i]]]))),
      ]),
    );
    expect(rows.map((r) => r[0])).toEqual([...ACTIONS]);
    expect(printed).toEqual(PERMISSIONS);
  });

  it('lists every role, and the token limits the code has', () => {
    expect(
      table('role')
        .slice(1)
        .map((r) => r[0]),
    ).toEqual([...ROLES]);
    expect(DOC).toContain(`${ALGORITHMS.slice(0, 2).join(', ')} (P-256) and ${ALGORITHMS[2]} (Ed25519) only`);
    expect(DOC).toContain(`up to ${CLOCK_TOLERANCE_SECONDS} seconds`);
    expect(DOC).toContain(`at most ${MAX_TOKEN_CHARS} characters`);
  });
});
