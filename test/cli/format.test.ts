import { formatBytes } from '../../lib/cli/format';
import { intOption } from '../../lib/cli/verb';

describe('formatBytes', () => {
  it('prints whole bytes: a rate below 1 KiB/s is rounded, not 17 decimals', () => {
    expect(formatBytes(123.456789)).toBe('123 B');
    expect(formatBytes(1023.6)).toBe('1024 B');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(1536.7 * 1024)).toBe('1.50 MiB');
  });
});

describe('intOption', () => {
  it('takes decimal digits only, within its range, naming the option otherwise', () => {
    const keep = intOption('--keep-last');
    expect(keep('7')).toBe(7);
    expect(keep('0')).toBe(0);
    for (const bad of ['abc', '', ' 3', '1e3', '0x10', '-1', '2.5', '99999999999999999999'])
      expect(() => keep(bad)).toThrow(`--keep-last takes a whole number >= 0, not "${bad}"`);
    const port = intOption('--port', { max: 65535 });
    expect(() => port('65536')).toThrow('--port takes a whole number from 0 to 65535, not "65536"');
    expect(() => intOption('--jobs', { min: 1 })('0')).toThrow(/--jobs takes a whole number >= 1/);
  });
});
