/**
 * A one-slot rendezvous that turns kafkajs' push (`eachBatch`) into a pull (an async
 * iterator) with backpressure: `put` resolves only once the reader has taken the item, so
 * kafkajs fetches no further than one batch ahead of the reader.
 */
export class Handoff<T> {
  #slot: { value: T; resolve: (taken: boolean) => void } | undefined;
  #taker: { resolve: (value: T | undefined) => void; reject: (err: unknown) => void } | undefined;
  #ended = false;
  #error: unknown;
  #onEnd: (() => void)[] = [];

  get ended(): boolean {
    return this.#ended;
  }

  /** Resolves `true` once taken, `false` if the handoff ended first (the item is dropped). */
  put(value: T): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false);
    if (this.#slot) throw new Error('Handoff.put: one item at a time');
    return new Promise<boolean>((resolve) => {
      const taker = this.#taker;
      if (taker) {
        this.#taker = undefined;
        taker.resolve(value);
        resolve(true);
      } else {
        this.#slot = { value, resolve };
      }
    });
  }

  /** Takes back an item nobody has taken yet; returns whether there was one. */
  withdraw(): boolean {
    const slot = this.#slot;
    if (!slot) return false;
    this.#slot = undefined;
    slot.resolve(false);
    return true;
  }

  /** The next item; `undefined` once ended; rejects if it ended with an error. */
  take(): Promise<T | undefined> {
    const slot = this.#slot;
    if (slot) {
      this.#slot = undefined;
      slot.resolve(true);
      return Promise.resolve(slot.value);
    }
    if (this.#ended) return this.#error === undefined ? Promise.resolve(undefined) : Promise.reject(this.#error);
    if (this.#taker) throw new Error('Handoff.take: one taker at a time');
    return new Promise<T | undefined>((resolve, reject) => {
      this.#taker = { resolve, reject };
    });
  }

  /** Ends the handoff; an item still in the slot is dropped. Later calls are ignored. */
  end(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.withdraw();
    const taker = this.#taker;
    this.#taker = undefined;
    if (taker) {
      if (error === undefined) taker.resolve(undefined);
      else taker.reject(error);
    }
    for (const listener of this.#onEnd.splice(0)) listener();
  }

  /** Resolves when the handoff ends (never rejects). */
  whenEnded(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#onEnd.push(resolve));
  }
}
