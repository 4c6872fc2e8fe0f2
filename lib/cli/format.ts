const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
const KIB = 1024;

/** 1536 → "1.50 KiB"; bytes are whole (a rate of 123.456 B/s prints "123 B"). */
export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= KIB && unit < UNITS.length - 1) {
    value /= KIB;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(2)} ${UNITS[unit]}`;
}

/** 75_000 ms → "1:15". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** Left-aligned columns separated by two spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}
