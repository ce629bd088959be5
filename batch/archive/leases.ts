/**
 * Which files live leases still read: compaction deletes a replaced file only once no
 * lease holds it.
 */
export class Leases {
  readonly #counts = new Map<string, number>();

  /** Holds every path until the returned release is called (once; later calls do nothing). */
  acquire(paths: readonly string[], onRelease: () => void): () => void {
    for (const p of paths) this.#counts.set(p, (this.#counts.get(p) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      for (const p of paths) {
        const count = this.#counts.get(p)! - 1;
        if (count === 0) this.#counts.delete(p);
        else this.#counts.set(p, count);
      }
      onRelease();
    };
  }

  isHeld(path: string): boolean {
    return this.#counts.has(path);
  }

  get size(): number {
    return this.#counts.size;
  }
}
