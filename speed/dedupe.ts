/**
 * The dedupe rule of design section 3, incrementally: a record is a duplicate when an
 * earlier record (by offset) of the same partition has the same id and was appended at
 * most `windowMs` before it — i.e. when the largest append time among earlier same-id
 * records is >= this record's append time - window. Duplicates count nowhere; the first
 * occurrence wins. The batch SQL applies exactly this rule over the archive, with
 * `max(append_time) OVER (PARTITION BY partition, id ORDER BY offset ...)`.
 *
 * Memory is bounded by the window: an id whose latest append time is older than the
 * partition's newest append time minus the window (and a skew allowance, since append
 * times of several producers need not be monotonic) can never make a later record a
 * duplicate, and is evicted.
 */
export interface DedupeOptions {
  /** Infinity = forever */
  readonly windowMs: number;
  /** tolerated regression of append times between producers, ms */
  readonly skewMs?: number;
}

/** Rough heap cost of one remembered id (Map entry, string, number), for the memory metric. */
const BYTES_PER_ENTRY = 96;

export class DedupeState {
  readonly windowMs: number;
  readonly skewMs: number;
  readonly #partitions = new Map<number, { seen: Map<string, number>; newest: number; sweptAt: number }>();
  #entries = 0;
  #idBytes = 0;

  constructor(options: DedupeOptions) {
    this.windowMs = options.windowMs;
    this.skewMs = options.skewMs ?? 300_000; // five minutes
  }

  /** Records one record and tells whether it is a duplicate. Call in offset order per partition. */
  check(partition: number, id: string, appendTime: number): boolean {
    let p = this.#partitions.get(partition);
    if (!p) {
      p = { seen: new Map(), newest: -Infinity, sweptAt: -Infinity };
      this.#partitions.set(partition, p);
    }
    const prev = p.seen.get(id);
    const duplicate = prev !== undefined && prev >= appendTime - this.windowMs;
    if (prev === undefined) {
      this.#entries++;
      this.#idBytes += id.length * 2;
      p.seen.set(id, appendTime);
    } else if (appendTime > prev) {
      // Map order is insertion order: re-inserting keeps the oldest entries first, so the
      // sweep can stop at the first entry still inside the window.
      p.seen.delete(id);
      p.seen.set(id, appendTime);
    }
    if (appendTime > p.newest) p.newest = appendTime;
    if (Number.isFinite(this.windowMs) && p.newest - p.sweptAt > this.windowMs / 16) this.#sweep(p);
    return duplicate;
  }

  #sweep(p: { seen: Map<string, number>; newest: number; sweptAt: number }): void {
    const horizon = p.newest - this.windowMs - this.skewMs;
    for (const [id, t] of p.seen) {
      if (t >= horizon) break;
      p.seen.delete(id);
      this.#entries--;
      this.#idBytes -= id.length * 2;
    }
    p.sweptAt = p.newest;
  }

  get entries(): number {
    return this.#entries;
  }

  /** An estimate of the heap this state holds, bytes. */
  get bytes(): number {
    return this.#entries * BYTES_PER_ENTRY + this.#idBytes;
  }
}
