/**
 * The dedupe rule of contract §3, incrementally: a record is a duplicate when an
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
 *
 * Each partition keeps its ids as 128-bit hashes (./id-hash.ts) in typed arrays: an open
 * addressing table (hash → latest append time) and a queue in the order a JS Map would
 * hold them (insertion, re-inserted when the time moves on) for eviction. About 90–100
 * bytes an id (24-byte slots at most 60 % full, 24-byte queue entries) instead of some 200
 * in a Map of strings, no per-id garbage to collect, and no Map size limit (2^24 entries in
 * V8). The arrays keep the window's high-water size: they do not shrink.
 */
import { hashId, ID_HASH } from './id-hash.js';

export interface DedupeOptions {
  /** Infinity = forever */
  readonly windowMs: number;
  /** tolerated regression of append times between producers, ms */
  readonly skewMs?: number;
  /** slots each partition's table and queue start with, a power of two (small in tests, so growth happens) */
  readonly initialCapacity?: number;
}

export class DedupeState {
  readonly windowMs: number;
  readonly skewMs: number;
  readonly #partitions = new Map<number, IdWindow>();
  readonly #initialCapacity: number;

  constructor(options: DedupeOptions) {
    this.windowMs = options.windowMs;
    this.skewMs = options.skewMs ?? 300_000; // five minutes
    const capacity = options.initialCapacity ?? INITIAL_CAPACITY;
    if (!(capacity >= 1 && (capacity & (capacity - 1)) === 0)) throw new RangeError(`initialCapacity must be a power of two, not ${capacity}`);
    this.#initialCapacity = capacity;
  }

  /** Records one record and tells whether it is a duplicate. Call in offset order per partition. */
  check(partition: number, id: string, appendTime: number): boolean {
    // NaN marks an empty slot; both logs give integer milliseconds.
    if (!Number.isFinite(appendTime)) throw new RangeError(`append time ${appendTime} of record ${id} is not a finite number`);
    let p = this.#partitions.get(partition);
    if (!p) {
      // Forever keeps every id: no eviction, so no queue.
      p = new IdWindow(Number.isFinite(this.windowMs), this.#initialCapacity);
      this.#partitions.set(partition, p);
    }
    hashId(id);
    const prev = p.record(appendTime);
    if (appendTime > p.newest) p.newest = appendTime;
    if (Number.isFinite(this.windowMs) && p.newest - p.sweptAt > this.windowMs / 16) {
      p.evictBefore(p.newest - this.windowMs - this.skewMs);
      p.sweptAt = p.newest;
    }
    return prev !== undefined && prev >= appendTime - this.windowMs;
  }

  get entries(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.size;
    return n;
  }

  /** The memory this state holds, bytes: its typed arrays, which keep their high-water size. */
  get bytes(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.bytes;
    return n;
  }

  /**
   * Everything the state holds, as plain data (numbers and typed arrays, no classes): what a
   * replay checkpoint stores. `restore` of it checks the same later records the same way.
   */
  snapshot(): DedupeSnapshot {
    return { windowMs: this.windowMs, skewMs: this.skewMs, partitions: [...this.#partitions].map(([p, w]) => [p, w.snapshot()]) };
  }

  static restore(snapshot: DedupeSnapshot): DedupeState {
    const state = new DedupeState({ windowMs: snapshot.windowMs, skewMs: snapshot.skewMs });
    for (const [p, w] of snapshot.partitions) state.#partitions.set(p, IdWindow.restore(w));
    return state;
  }
}

/** A DedupeState as plain data (DedupeState.snapshot). */
export interface DedupeSnapshot {
  readonly windowMs: number;
  readonly skewMs: number;
  readonly partitions: ReadonlyArray<readonly [number, IdWindowSnapshot]>;
}

interface IdWindowSnapshot {
  readonly size: number;
  readonly newest: number;
  readonly sweptAt: number;
  readonly queued: boolean;
  readonly table: ArrayBuffer;
  readonly queue: ArrayBuffer;
  readonly qHead: number;
  readonly qLength: number;
  readonly qStale: number;
}

const INITIAL_CAPACITY = 1 << 10;
/** The table grows past this fill: linear probing stays short below it. */
const MAX_LOAD = 0.6;
/**
 * A slot or queue entry is 24 bytes of one buffer: the hash as int32 words 0–3, the time as
 * the float64 at word 4, so a probe touches one cache line. An empty slot's time is NaN.
 */
const WORDS = 6;
const SLOT_BYTES = WORDS * 4;

function slots(capacity: number): { words: Int32Array; times: Float64Array } {
  const buffer = new ArrayBuffer(capacity * SLOT_BYTES);
  const times = new Float64Array(buffer);
  return { words: new Int32Array(buffer), times };
}

/** One partition's ids: hash → latest append time, plus the eviction queue. */
class IdWindow {
  size = 0;
  newest = -Infinity;
  sweptAt = -Infinity;
  readonly #queued: boolean;
  #mask: number;
  #words: Int32Array;
  #times: Float64Array;
  // A ring of (hash, time), oldest first; an entry whose time is no longer its id's is stale.
  #qMask: number;
  #qWords: Int32Array;
  #qTimes: Float64Array;
  #qHead = 0;
  #qLength = 0;
  /** queue entries known stale: compacting pays (a lookup each) only when they are many */
  #qStale = 0;

  constructor(queued: boolean, capacity: number) {
    this.#queued = queued;
    this.#mask = capacity - 1;
    ({ words: this.#words, times: this.#times } = slots(capacity));
    this.#times.fill(NaN);
    this.#qMask = capacity - 1;
    ({ words: this.#qWords, times: this.#qTimes } = slots(queued ? capacity : 0));
  }

  get bytes(): number {
    return this.#words.byteLength + this.#qWords.byteLength;
  }

  snapshot(): IdWindowSnapshot {
    return {
      size: this.size,
      newest: this.newest,
      sweptAt: this.sweptAt,
      queued: this.#queued,
      table: this.#words.buffer.slice(0) as ArrayBuffer,
      queue: this.#qWords.buffer.slice(0) as ArrayBuffer,
      qHead: this.#qHead,
      qLength: this.#qLength,
      qStale: this.#qStale,
    };
  }

  static restore(s: IdWindowSnapshot): IdWindow {
    const slotsOf = (bytes: number) => bytes / SLOT_BYTES;
    const capacity = slotsOf(s.table.byteLength);
    if (!(capacity >= 1 && (capacity & (capacity - 1)) === 0) || s.table.byteLength % SLOT_BYTES !== 0) throw new RangeError(`dedupe snapshot: a table of ${s.table.byteLength} bytes`);
    const w = new IdWindow(s.queued, capacity);
    w.size = s.size;
    w.newest = s.newest;
    w.sweptAt = s.sweptAt;
    w.#words = new Int32Array(s.table);
    w.#times = new Float64Array(s.table);
    w.#qWords = new Int32Array(s.queue);
    w.#qTimes = new Float64Array(s.queue);
    w.#qMask = Math.max(slotsOf(s.queue.byteLength), 1) - 1;
    w.#qHead = s.qHead;
    w.#qLength = s.qLength;
    w.#qStale = s.qStale;
    return w;
  }

  /** For the id hashed in ID_HASH: its previous latest append time (undefined: new), then records `time`. */
  record(time: number): number | undefined {
    const a = ID_HASH[0]!;
    const b = ID_HASH[1]!;
    const c = ID_HASH[2]!;
    const d = ID_HASH[3]!;
    const slot = this.#find(a, b, c, d);
    if (slot < 0) {
      if (this.size + 1 > (this.#mask + 1) * MAX_LOAD) this.#grow();
      this.#insert(a, b, c, d, time);
      this.#enqueue(a, b, c, d, time);
      return undefined;
    }
    const prev = this.#times[slot * 3 + 2]!;
    if (time > prev) {
      this.#times[slot * 3 + 2] = time;
      if (this.#queued) this.#qStale++; // the id's entry already queued is stale now
      this.#enqueue(a, b, c, d, time);
    }
    return prev;
  }

  /** Drops the ids whose latest append time is before `horizon`, oldest first, as a Map sweep would. */
  evictBefore(horizon: number): void {
    const q = this.#qWords;
    while (this.#qLength > 0) {
      const at = this.#qHead;
      const t = this.#qTimes[at * 3 + 2]!;
      const w = at * WORDS;
      const slot = this.#find(q[w]!, q[w + 1]!, q[w + 2]!, q[w + 3]!);
      const stale = slot < 0 || this.#times[slot * 3 + 2] !== t;
      if (!stale && t >= horizon) return;
      if (stale) this.#qStale--;
      else this.#remove(slot);
      this.#qHead = (at + 1) & this.#qMask;
      this.#qLength--;
    }
  }

  #find(a: number, b: number, c: number, d: number): number {
    const words = this.#words;
    const times = this.#times;
    const mask = this.#mask;
    for (let i = a & mask; ; i = (i + 1) & mask) {
      const w = i * WORDS;
      if (words[w] === a && words[w + 1] === b && words[w + 2] === c && words[w + 3] === d && times[i * 3 + 2] === times[i * 3 + 2]) return i;
      if (Number.isNaN(times[i * 3 + 2])) return -1;
    }
  }

  #insert(a: number, b: number, c: number, d: number, time: number): void {
    const words = this.#words;
    const times = this.#times;
    let i = a & this.#mask;
    while (!Number.isNaN(times[i * 3 + 2])) i = (i + 1) & this.#mask;
    const w = i * WORDS;
    words[w] = a;
    words[w + 1] = b;
    words[w + 2] = c;
    words[w + 3] = d;
    times[i * 3 + 2] = time;
    this.size++;
  }

  /** Linear probing's deletion: later entries of the same probe run shift back into the hole. */
  #remove(slot: number): void {
    const words = this.#words;
    const times = this.#times;
    const mask = this.#mask;
    let hole = slot;
    for (let j = (slot + 1) & mask; !Number.isNaN(times[j * 3 + 2]); j = (j + 1) & mask) {
      const home = words[j * WORDS]! & mask;
      // j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      words.copyWithin(hole * WORDS, j * WORDS, j * WORDS + WORDS);
      hole = j;
    }
    times[hole * 3 + 2] = NaN;
    this.size--;
  }

  #grow(): void {
    const words = this.#words;
    const times = this.#times;
    const capacity = (this.#mask + 1) * 2;
    this.#mask = capacity - 1;
    ({ words: this.#words, times: this.#times } = slots(capacity));
    this.#times.fill(NaN);
    this.size = 0;
    for (let i = 0; i < times.length / 3; i++) {
      const t = times[i * 3 + 2]!;
      if (!Number.isNaN(t)) this.#insert(words[i * WORDS]!, words[i * WORDS + 1]!, words[i * WORDS + 2]!, words[i * WORDS + 3]!, t);
    }
  }

  #enqueue(a: number, b: number, c: number, d: number, time: number): void {
    if (!this.#queued) return;
    if (this.#qLength > this.#qMask) this.#compactOrGrowQueue();
    const at = (this.#qHead + this.#qLength) & this.#qMask;
    const w = at * WORDS;
    this.#qWords[w] = a;
    this.#qWords[w + 1] = b;
    this.#qWords[w + 2] = c;
    this.#qWords[w + 3] = d;
    this.#qTimes[at * 3 + 2] = time;
    this.#qLength++;
  }

  /**
   * The queue is full. When a quarter of it or more is stale (ids re-sent later: each
   * re-send queues its id again), the stale entries go, keeping the order of the live ones;
   * it doubles when it would still be over half full. So it holds O(ids in the window), not
   * O(records), at amortised O(1), and without re-sends growing is a plain copy.
   */
  #compactOrGrowQueue(): void {
    const capacity = this.#qMask + 1;
    const compact = this.#qStale * 4 >= capacity;
    const live = compact ? this.#qLength - this.#qStale : this.#qLength;
    const next = slots(live * 2 > capacity ? capacity * 2 : capacity);
    let to = 0;
    for (let n = 0; n < this.#qLength; n++) {
      const at = (this.#qHead + n) & this.#qMask;
      if (compact && this.#stale(at)) continue;
      next.words.set(this.#qWords.subarray(at * WORDS, at * WORDS + WORDS), to * WORDS);
      to++;
    }
    if (to !== live) throw new Error(`dedupe queue: ${to} entries kept, ${live} expected`);
    if (compact) this.#qStale = 0;
    this.#qWords = next.words;
    this.#qTimes = next.times;
    this.#qMask = next.times.length / 3 - 1;
    this.#qHead = 0;
    this.#qLength = live;
  }

  /** A queue entry is stale when its id is gone or has a later time (queued again since). */
  #stale(at: number): boolean {
    const q = this.#qWords;
    const w = at * WORDS;
    const slot = this.#find(q[w]!, q[w + 1]!, q[w + 2]!, q[w + 3]!);
    return slot < 0 || this.#times[slot * 3 + 2] !== this.#qTimes[at * 3 + 2];
  }

}
