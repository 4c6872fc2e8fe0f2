/**
 * Names every JavaScript object answers to (`constructor`, `__proto__`, `toString`, …): as a source,
 * repository, role or action name, a lookup such as `sources[name]` would find the object's own
 * machinery, and a key `__proto__` would set a prototype. Refused wherever a configuration gives a name.
 */
export const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));
