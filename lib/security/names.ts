/**
 * Names every JavaScript object answers to (`constructor`, `__proto__`, `toString`, …): as a source,
 * repository, role or action name, a lookup such as `sources[name]` would find the object's own
 * machinery, and a key `__proto__` would set a prototype. Refused wherever a configuration gives a name.
 */
export const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * A name zapas keys things by (sources, repositories, holds: also in catalog keys): 1–63 lowercase
 * letters, digits, dot, dash, underscore, starting with a letter or digit.
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
