/**
 * What queries derive from immutable tables and keep: roll-ups of a table to a query shape,
 * and where one table's groups are in another's. Keyed by table ids (a table never changes,
 * so an entry never goes stale; one whose table was dropped ages out), least recently used
 * first out, within `maxBytes` (config `query.cacheMemory`). Building is single-flight: two
 * queries wanting the same entry wait for one build.
 */
export class QueryCache {
  readonly maxBytes: number;
  readonly #entries = new Map<string, { readonly value: Promise<unknown>; bytes: number }>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The entry for `key`, built by `build` (its value and the bytes it holds) when absent. */
  get<T>(key: string, build: () => Promise<{ value: T; bytes: number }>): Promise<T> {
    const entry = this.#entries.get(key);
    if (entry) {
      // Most recently used last: the map's order is the eviction order.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return entry.value as Promise<T>;
    }
    const built = build();
    const value = built.then((b) => b.value);
    const fresh = { value, bytes: 0 };
    this.#entries.set(key, fresh);
    built.then(
      (b) => {
        if (this.#entries.get(key) !== fresh) return;
        fresh.bytes = b.bytes;
        this.#bytes += b.bytes;
        this.#evict();
      },
      () => {
        if (this.#entries.get(key) === fresh) this.#entries.delete(key);
      },
    );
    return value;
  }

  #evict(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) return;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
    }
  }
}
