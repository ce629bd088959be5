/**
 * The tests' one event generator (benches and the demo use shared/demo). Seeded, so a seed
 * gives the same events; every test picks a *profile* — the event types and the data they
 * carry — and takes from one set of mechanics: event-time forms (epoch ms, RFC 3339 in UTC or
 * another zone), values that are missing, null or of the wrong kind, late events, the three
 * kinds of retry (the same event again; the same id and key with other content, where the
 * first occurrence wins; the same id under another key, so another partition), shuffles, and
 * log records with partitions, offsets and append times that mostly rise but step back.
 */
import type { RawEvent } from '../../shared/demo/generator.js';
import { parseEventTime, type StoredEvent } from '../../shared/events/index.js';
import type { Position } from '../../shared/log/position.js';
import { Rng } from '../../shared/random.js';
import type { TestRecord } from './recompute-archive.js';

export type { RawEvent };

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** What a profile decides of an event: its type and its data; the rest is the generator's. */
export interface Profile {
  /** the event types, as often as they appear in the list */
  readonly types: readonly string[];
  /** the share of events without a key (keyed, partitioned and counted by their id) */
  readonly keyless: number;
  readonly users: number;
  /** the data of an event of `type`; undefined for an event without data */
  data(g: TestEvents, type: string): Record<string, unknown> | undefined;
}

/**
 * Dimension vocabularies of the ground-truth profile. Countries mix scripts, an NFD spelling
 * beside its NFC twin, a flag (surrogate pairs), quotes, a backslash, a comma and the empty string.
 */
export const COUNTRIES = ['DE', 'Côte d’Ivoire', '日本', 'Ελλάδα', 'España', 'Espan\u0303a', '🇧🇷 Brasil', 'Zürich "ZH"', 'back\\slash', 'São Paulo, BR', ''] as const;
const CHANNELS = ['web', 'app', 'email'] as const;
const SECTIONS = ['home', 'product', 'ünïcödé', 'カート', 'tab\there'] as const;
const DEVICES = ['mobile', 'tablet', 'desktop'] as const;
const PLANS = ['free', 'pro', 'team'] as const;
const REFERRERS = ['google', 'newsletter', 'ami·e', '👍'] as const;
/** Numbers whose JSON text is easy to get wrong: exponents both ways, float noise, beyond 2^53. */
const SCORES = [1e21, 1.5e-7, 0.1 + 0.2, -5, 100, 12345678901234567000, 0] as const;

/**
 * Everything a client can legally send and a view must get right: several event types (one
 * no view reads), unicode and escaped dimension strings, numbers and booleans as dimension
 * values, missing, null and non-scalar values (→ null), numeric strings and booleans in
 * numeric fields (ignored), zeros and negatives in quantiles, nested data paths, events
 * without a key or without data.
 */
export const groundTruthProfile: Profile = {
  types: ['purchase', 'purchase', 'page_view', 'page_view', 'page_view', 'signup', 'refund', 'heartbeat'],
  keyless: 0.1,
  users: 60,
  data(g, kind) {
    if (g.chance(0.03)) return undefined;
    const put = (out: Record<string, unknown>, name: string, v: unknown) => {
      if (v !== undefined) out[name] = v;
    };
    const out: Record<string, unknown> = {};
    switch (kind) {
      case 'purchase':
      case 'refund': {
        const cents = g.chance(0.9) ? g.int(1, 15_000) : g.int(15_000, 2_500_000);
        put(out, 'amount', g.awkward(() => (kind === 'refund' ? -cents / 100 : cents / 100)));
        put(out, 'items', g.awkward(() => g.int(0, 9), 0.1));
        put(out, 'country', g.awkward(() => g.pick(COUNTRIES), 0.1));
        put(out, 'channel', g.awkward(() => g.pick(CHANNELS), 0.1));
        put(out, 'vip', g.awkward(() => g.chance(0.3), 0.2));
        break;
      }
      case 'page_view': {
        const page: Record<string, unknown> = { path: `/p/${g.int(1, 20)}` };
        put(page, 'section', g.awkward(() => g.pick(SECTIONS), 0.15));
        put(out, 'page', g.chance(0.05) ? 'not an object' : page);
        put(out, 'device', g.awkward(() => g.pick(DEVICES), 0.1));
        put(out, 'status', g.awkward(() => g.pick([200, 200, 200, 404, 500]), 0.1));
        put(out, 'country', g.awkward(() => g.pick(COUNTRIES), 0.1));
        put(out, 'items', g.awkward(() => g.int(0, 3), 0.5));
        const timing: Record<string, unknown> = {};
        put(timing, 'latency_ms', g.awkward(() => (g.chance(0.05) ? 0 : g.chance(0.9) ? g.int(5, 400) : g.int(400, 9_000) + g.int(0, 99) / 100), 0.1));
        put(timing, 'drift', g.awkward(() => (g.pick([0, -1, 1]) * g.int(0, 5_000)) / 10, 0.1));
        put(out, 'timing', timing);
        break;
      }
      case 'signup': {
        put(out, 'plan', g.awkward(() => g.pick(PLANS), 0.1));
        put(out, 'tier', g.pick([1, 2, '2', 3, true, false, undefined, null]));
        put(out, 'referrer', g.awkward(() => g.pick(REFERRERS), 0.3));
        put(out, 'score', g.awkward(() => g.pick(SCORES), 0.1));
        put(out, 'country', g.awkward(() => g.pick(COUNTRIES), 0.1));
        put(out, 'email', g.awkward(() => `u${g.int(1, 80)}@example.com`, 0.1));
        put(out, 'profile', { age: g.awkward(() => g.int(16, 90), 0.2) });
        break;
      }
      default:
        put(out, 'beat', g.int(0, 100));
    }
    return out;
  },
};

export const SHOP_COUNTRIES = ['DE', 'FR', 'US', 'JP'] as const;
export const SHOP_CHANNELS = CHANNELS;
export const SHOP_DEVICES = DEVICES;

/** A web shop, for the interleaving and kill tests: page views, sign-ups, purchases with non-numbers now and then. */
export const shopProfile: Profile = {
  types: ['page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'page_view', 'signup', 'purchase', 'purchase', 'purchase'],
  keyless: 0.1,
  users: 40,
  data(g, type) {
    const country = g.chance(0.05) ? undefined : g.pick(SHOP_COUNTRIES);
    const where = country ? { country } : {};
    if (type === 'page_view') {
      const latency = g.chance(0.05) ? 'slow' : g.chance(0.9) ? g.int(20, 400) : g.int(400, 5_000);
      return { device: g.pick(DEVICES), latency_ms: latency, ...where };
    }
    if (type === 'signup') return { channel: g.pick(CHANNELS), ...where };
    // amounts: integer euros, cents, a non-number now and then (ignored, like SQL NULL), or missing
    const amount = g.chance(0.05) ? 'n/a' : g.chance(0.05) ? undefined : g.chance(0.5) ? g.int(1, 500) : g.int(1, 50_000) / 100;
    return { channel: g.pick(CHANNELS), ...where, ...(amount !== undefined ? { amount } : {}) };
  },
};

/**
 * For comparing the batch SQL with the TypeScript fold value by value: data fields that are
 * strings, numbers of every form, booleans, null, objects, arrays, numeric strings or missing.
 */
export const valuesProfile: Profile = {
  types: ['page_view', 'page_view', 'purchase', 'signup', 'other'],
  keyless: 0.2,
  users: 40,
  data(g) {
    if (g.chance(0.05)) return undefined;
    const data: Record<string, unknown> = {};
    const put = (k: string, make: () => unknown) => {
      if (g.chance(0.85)) data[k] = make();
    };
    put('path', () => g.pick(['/', '/cart', '/produkt/straße', '/日本', '/😀', 'e\u0301', '', 'a"b\\c', 'tab\tnew\nline']));
    put('country', () => g.pick(['DE', 'FR', 'CÔTE-D’IVOIRE', 3, 3.5, '3', true, null, { x: 1 }, [1]]));
    put('channel', () => g.pick(['web', 'app', 'email', 1, false]));
    put('amount', () => g.number());
    put('latency_ms', () => (g.chance(0.9) ? g.int(0, 5_000) : g.pick(['12', null, true, { v: 1 }])));
    put('code', () => g.pick([0, 1, -1, 19.99, 0.1, 1e-7, 1.5e-7, 1e-6, 1e21, 1e20, 123456789012345680000, 2 ** 53, 2 ** 64, -(2 ** 63), 5e-324, 1.7976931348623157e308, 0.30000000000000004, 100, 1e16]));
    put('nested', () => (g.chance(0.8) ? { a: { b: g.pick(['x', 'y', 7, 2.5, null]) } } : g.pick([[1], 'flat', 4])));
    return data;
  },
};

export interface TestEventsOptions {
  readonly profile?: Profile;
  /** the ids' prefix (default: the type and the seed) */
  readonly prefix?: string;
  /** overrides the profile's number of distinct keys */
  readonly users?: number;
}

export class TestEvents extends Rng {
  readonly seed: number;
  readonly profile: Profile;
  readonly #prefix: string | undefined;
  readonly #users: number;
  #n = 0;
  /** what `next` made, for `retry` */
  readonly #sent: RawEvent[] = [];

  constructor(seed: number, options: TestEventsOptions = {}) {
    super(seed);
    this.seed = seed;
    this.profile = options.profile ?? groundTruthProfile;
    this.#prefix = options.prefix;
    this.#users = options.users ?? this.profile.users;
  }

  // ---- one event ----

  /** A new event at event time `ms`, of `type` or one the profile picks. */
  event(ms: number, type?: string, timeForm: (ms: number) => number | string = (t) => this.time(t)): RawEvent {
    const kind = type ?? this.pick(this.profile.types);
    const n = ++this.#n;
    const event: RawEvent = { id: this.#prefix ? `${this.#prefix}-${n}` : `${kind}-${this.seed}-${n}`, type: kind, time: timeForm(ms) };
    // An event without a key is keyed (and partitioned, and counted as a user) by its id.
    if (!this.chance(this.profile.keyless)) event.key = `user-${this.int(1, this.#users)}`;
    const data = this.profile.data(this, kind);
    if (data !== undefined) event.data = data;
    return event;
  }

  /** Epoch ms, or RFC 3339 in UTC or in another zone (the same instant). */
  time(ms: number): number | string {
    const roll = this.int(0, 2);
    if (roll === 0) return ms;
    if (roll === 1) return new Date(ms).toISOString();
    const offsetMinutes = this.pick([330, -480, 60, -150]);
    const local = new Date(ms + offsetMinutes * MINUTE).toISOString().slice(0, 23);
    const sign = offsetMinutes < 0 ? '-' : '+';
    const abs = Math.abs(offsetMinutes);
    return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  }

  /** A value that is sometimes missing (undefined), null, or of the wrong kind. */
  awkward(value: () => unknown, p = 0.15): unknown {
    if (!this.chance(p)) return value();
    return this.pick([undefined, null, '3', true, { nested: 1 }, [1, 2]]);
  }

  /** Values a numeric measure meets: ints, cents, negatives, zeros, tiny ones, non-numbers. */
  number(): unknown {
    switch (this.int(0, 9)) {
      case 0:
        return this.int(-1_000, 1_000);
      case 1:
        return 0;
      case 2:
        return this.pick(['3', null, true, { n: 1 }, [2]]);
      case 3:
        return this.pick([1e-10, -1e-10, 1e-9, -1e-9, 1e-8, 5e-324]);
      case 4:
        return -this.int(1, 10_000_000) / 1000;
      default:
        return this.int(0, 250_000) / 100;
    }
  }

  // ---- the three kinds of retry ----

  /** The same event again: same id, key and content. */
  again(e: RawEvent): RawEvent {
    return structuredClone(e);
  }

  /** The same id and key with `other`'s content: when a duplicate, the first occurrence wins, whatever the type of either. */
  changed(e: RawEvent, other: RawEvent): RawEvent {
    const out: RawEvent = { ...other, id: e.id };
    if (e.key === undefined) delete out.key;
    else out.key = e.key;
    return out;
  }

  /** The same id under another key: another partition on a partitioned log, so counted again there. */
  rekeyed(e: RawEvent, prefix = 'moved'): RawEvent {
    return { ...structuredClone(e), key: `${prefix}-${this.int(1, 1_000_000)}` };
  }

  /** Shuffles in place (Fisher–Yates), so retries interleave with new events. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  // ---- around a fixed instant (the ground-truth test) ----

  /** `n` new events around `t0`; `lateRate` of them hours to days behind. */
  fresh(n: number, t0: number, lateRate = 0.1): RawEvent[] {
    return Array.from({ length: n }, () => this.#around(t0, lateRate));
  }

  #around(t0: number, lateRate: number, type?: string): RawEvent {
    const ms = this.chance(lateRate) ? t0 - this.int(HOUR, 5 * DAY) : t0 + this.int(-30 * MINUTE, 40 * MINUTE);
    return this.event(ms, type);
  }

  /** Exact retries of `k` events picked from `earlier`. */
  retries(earlier: readonly RawEvent[], k: number): RawEvent[] {
    return Array.from({ length: k }, () => this.again(this.pick(earlier)));
  }

  /** `k` events of `earlier` again with other content (time, data, sometimes type). */
  changedFrom(earlier: readonly RawEvent[], k: number, t0: number): RawEvent[] {
    return Array.from({ length: k }, () => {
      const original = this.pick(earlier);
      return this.changed(original, this.#around(t0, 0.3, this.chance(0.3) ? undefined : original.type));
    });
  }

  /** `k` events of `earlier` again under other keys. */
  rekeyedFrom(earlier: readonly RawEvent[], k: number): RawEvent[] {
    return Array.from({ length: k }, () => this.rekeyed(this.pick(earlier)));
  }

  // ---- a stream around now (the interleaving and kill tests) ----

  /** A new event near `now`: late ones hours or days behind, most a few minutes before, a few ahead (< 1 h). */
  next(now: number): RawEvent {
    const time = this.chance(0.15) ? now - this.int(HOUR, 3 * DAY) : this.chance(0.05) ? now + this.int(0, 30 * MINUTE) : now - this.int(0, 5 * MINUTE);
    const event = this.event(time, undefined, (ms) => (this.chance(0.5) ? new Date(ms).toISOString() : ms));
    this.#sent.push(event);
    return event;
  }

  /** An event sent before by `next`, again, as one of the three kinds of retry; undefined before anything was sent. */
  retry(now: number): RawEvent | undefined {
    if (this.#sent.length === 0) return undefined;
    // mostly recent ones (likely inside a short dedupe window), sometimes old ones
    const earlier = this.chance(0.7) ? this.#sent[Math.max(0, this.#sent.length - this.int(1, 30))]! : this.pick(this.#sent);
    const roll = this.int(1, 100);
    if (roll <= 70) return this.again(earlier);
    if (roll <= 90) {
      const other = this.next(now);
      this.#sent.pop();
      return this.changed(earlier, other);
    }
    return this.rekeyed(earlier, 'other');
  }

  /** A request body: new events with retries mixed in, sometimes the same event twice in one request. */
  batch(now: number, retriesOnly = false): RawEvent[] {
    const out: RawEvent[] = [];
    const n = this.int(1, retriesOnly ? 8 : 25);
    for (let i = 0; i < n; i++) {
      const retry = retriesOnly || this.chance(0.1) ? this.retry(now) : undefined;
      out.push(retry ?? this.next(now));
    }
    if (out.length > 0 && this.chance(0.1)) out.push(this.again(this.pick(out)));
    return out;
  }

  // ---- log records (the batch layer's tests) ----

  /**
   * `n` records over `partitions`: retries of recent ids (same or other partition, same or
   * other content and type), append times that mostly rise but sometimes step back, late
   * event times.
   */
  records(n: number, partitions: number): TestRecord[] {
    const out: TestRecord[] = [];
    const next = Array.from({ length: partitions }, () => 0);
    const clock = Array.from({ length: partitions }, () => 1_000_000);
    const recent: Array<{ partition: number; event: StoredEvent }> = [];
    const start = Date.UTC(2026, 10, 27, 22, 0);
    for (let i = 0; i < n; i++) {
      let partition = this.int(0, partitions - 1);
      let event: StoredEvent;
      if (recent.length > 0 && this.chance(0.3)) {
        const earlier = this.pick(recent);
        // mostly a true retry (same partition); sometimes the same id elsewhere, not a duplicate
        if (this.chance(0.8)) partition = earlier.partition;
        event = this.chance(0.7) ? earlier.event : { ...this.stored(start), id: earlier.event.id };
      } else {
        event = this.stored(start);
      }
      clock[partition]! += this.chance(0.1) ? -this.int(0, 300) : this.int(0, 2_000);
      out.push({ partition, offset: next[partition]!++, appendTime: clock[partition]!, event });
      recent.push({ partition, event });
      if (recent.length > 50) recent.shift();
    }
    return out;
  }

  /** A new event as braid stores it, within six hours after `start` or up to three days late; ids in several scripts. */
  stored(start: number): StoredEvent {
    const late = this.chance(0.1) ? this.int(0, 3 * DAY) : 0;
    const raw = this.event(start + this.int(0, 6 * HOUR) - late, undefined, (ms) => ms);
    return toStored({ ...raw, id: `${this.pick(['ev', 'ä', '事件', 'x'])}-${raw.id}` });
  }

  /** A snapshot below the records' end: some partitions cut short, some not listed. */
  snapshot(records: readonly TestRecord[], partitions: number): Position {
    const end = Array.from({ length: partitions }, () => 0);
    for (const r of records) end[r.partition] = Math.max(end[r.partition]!, r.offset + 1);
    const s: Position = {};
    end.forEach((e, p) => {
      if (this.chance(0.9)) s[p] = this.chance(0.5) ? e : this.int(0, e);
    });
    return s;
  }
}

/** A client's event as braid stores it (time as epoch ms). */
export function toStored(raw: RawEvent): StoredEvent {
  const time = parseEventTime(raw.time);
  if (!time.ok) throw new Error(time.reason);
  return { id: raw.id, type: raw.type, time: time.ms, ...(raw.key !== undefined ? { key: raw.key } : {}), ...(raw.data !== undefined ? { data: raw.data } : {}) };
}
