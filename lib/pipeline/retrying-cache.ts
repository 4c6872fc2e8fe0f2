/**
 * Work done once per key and kept — opening a repository (its scrypt), fetching a secret — except when it
 * fails: a rejected promise is let go, so the next caller tries again instead of meeting the same failure
 * for the life of the process (storage down for a moment, a throttled secret fetch at a cold start).
 */
export class RetryingCache<K, V> {
  private readonly held = new Map<K, Promise<V>>();

  get(key: K, make: () => Promise<V>): Promise<V> {
    let value = this.held.get(key);
    if (!value) {
      const made = make();
      value = made;
      this.held.set(key, made);
      made.catch(() => {
        if (this.held.get(key) === made) this.held.delete(key);
      });
    }
    return value;
  }
}
