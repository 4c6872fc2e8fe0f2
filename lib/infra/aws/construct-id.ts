/** Construct ids from the stage table's names: `requests` → `Requests`, stable across synths. */
export function constructId(name: string): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}
