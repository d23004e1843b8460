/**
 * Values a run makes once and looks up after, wanted again for every host of
 * a fleet: a layout, a dependency plan, a script, a quoted text, a digest
 * (docs/benchmarks.md, "A run's scripts made and quoted once"). A table
 * keeps at most `max` entries and forgets them all when full: a run has a
 * few such keys, and a long-lived caller never grows it without bound.
 */
export class RunTable<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  /** The value kept for `key`, or the one `make` makes now (kept for the next call). */
  get(key: K, make: () => V): V {
    let value = this.#entries.get(key);
    if (value === undefined) {
      value = make();
      if (this.#entries.size >= this.#max) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }
}
