import { defaultEventLimits, encodeEvent, parseEventTime, recordKey, validateEvents, type StoredEvent } from '../events/index.js';
import type { AppendInput } from '../log/types.js';
import { Rng } from '../random.js';

/** A raw event as a client sends it (time as RFC 3339 or epoch ms). */
export interface RawEvent {
  id: string;
  type: string;
  time: string | number;
  key?: string;
  data?: Record<string, unknown>;
}

export interface DemoOptions {
  readonly seed: number;
  /** distinct users (event keys) */
  readonly users: number;
  /** share of events that are a retry of an earlier one (same id, same content) */
  readonly duplicateRate: number;
  /** share of events whose event time is hours or days behind now */
  readonly lateRate: number;
}

export const defaultDemoOptions: DemoOptions = {
  seed: 42,
  users: 5_000,
  duplicateRate: 0.02,
  lateRate: 0.03,
};

const PATHS = ['/', '/search', '/product/1', '/product/2', '/product/3', '/cart', '/checkout', '/account', '/help'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ES', 'NL', 'CÔTE-D’IVOIRE'];
const CHANNELS = ['web', 'app', 'email'];
const DEVICES = ['desktop', 'mobile', 'tablet'];
const PRODUCTS = ['espresso-machine', 'grinder', 'kettle', 'mug', 'beans-1kg', 'filter-papers', 'scale', 'tamper'];
/** An order's statuses after `placed`, in the order they happen. */
const ORDER_STEPS = ['paid', 'shipped', 'delivered'] as const;

/**
 * Realistic web-shop traffic for the demo, tests and benchmarks: page views (paths,
 * devices, latencies), sign-ups, purchases (each an order, with a product, an amount and a
 * country) and the orders' later status updates; retried duplicates and late events
 * included. Deterministic for a seed and a sequence of `now`s.
 */
export class DemoGenerator {
  readonly #options: DemoOptions;
  readonly #rng: Rng;
  #counter = 0;
  readonly #recent: RawEvent[] = [];

  constructor(options: Partial<DemoOptions> = {}) {
    this.#options = { ...defaultDemoOptions, ...options };
    this.#rng = new Rng(this.#options.seed);
  }

  /** `n` events around `now` (epoch ms). */
  batch(n: number, now: number): RawEvent[] {
    const out: RawEvent[] = [];
    for (let i = 0; i < n; i++) out.push(this.next(now));
    return out;
  }

  /** `n` events around `now`, validated as ingest validates them, as ingest stores them. */
  stored(n: number, now: number): StoredEvent[] {
    const result = validateEvents(this.batch(n, now), defaultEventLimits, now);
    if (!result.ok) throw new Error(`the demo generator made invalid events: ${JSON.stringify(result.problems.slice(0, 3))}`);
    return result.events;
  }

  /** `n` events around `now` as log records: what ingest appends for them. */
  records(n: number, now: number): AppendInput[] {
    return this.stored(n, now).map((e) => ({ key: recordKey(e), value: encodeEvent(e) }));
  }

  /** `n` events spread evenly over the day before `end`, as stored (for large benches: not validated one by one). */
  *day(n: number, end = Date.now()): Generator<StoredEvent> {
    const start = end - 86_400_000;
    const step = 86_400_000 / n;
    for (let i = 0; i < n; i++) {
      const raw = this.next(Math.floor(start + i * step));
      const time = parseEventTime(raw.time);
      if (!time.ok) throw new Error(time.reason);
      yield { id: raw.id, type: raw.type, time: time.ms, ...(raw.key ? { key: raw.key } : {}), ...(raw.data ? { data: raw.data } : {}) };
    }
  }

  next(now: number): RawEvent {
    if (this.#recent.length > 0 && this.#chance(this.#options.duplicateRate)) {
      return structuredClone(this.#recent[this.#int(0, this.#recent.length - 1)]!);
    }
    const late = this.#chance(this.#options.lateRate);
    const time = late ? now - this.#int(3_600_000, 3 * 86_400_000) : now - this.#int(0, 2_000);
    const user = `user-${this.#int(1, this.#options.users)}`;
    const n = ++this.#counter;
    const roll = this.#int(1, 100);
    const country = this.#pick(COUNTRIES);
    let event: RawEvent;
    if (roll <= 80) {
      event = {
        id: `pv-${this.#options.seed}-${n}`,
        type: 'page_view',
        time: this.#chance(0.5) ? new Date(time).toISOString() : time,
        key: user,
        data: {
          path: this.#pick(PATHS),
          country,
          device: this.#pick(DEVICES),
          // Mostly fast with a long tail, like real page loads.
          latency_ms: this.#chance(0.95) ? this.#int(20, 400) : this.#int(400, 5_000),
        },
      };
    } else if (roll <= 86) {
      event = {
        id: `su-${this.#options.seed}-${n}`,
        type: 'signup',
        time: new Date(time).toISOString(),
        key: user,
        data: { country, channel: this.#pick(CHANNELS) },
      };
    } else if (roll <= 94 || this.#open.length === 0) {
      const cents = this.#chance(0.9) ? this.#int(199, 15_000) : this.#int(15_000, 250_000);
      const orderId = `order-${this.#options.seed}-${n}`;
      event = {
        id: orderId,
        type: 'purchase',
        time: new Date(time).toISOString(),
        key: user,
        data: { order_id: orderId, status: 'placed', product: this.#pick(PRODUCTS), amount: cents / 100, items: this.#int(1, 6), country, channel: this.#pick(CHANNELS) },
      };
      this.#open.push({ orderId, user, step: 0 });
      if (this.#open.length > 1_000) this.#open.shift();
    } else {
      // The next status of a recent order (late ones too: a late "shipped" must not overwrite "delivered").
      const at = this.#int(0, this.#open.length - 1);
      const order = this.#open[at]!;
      event = {
        id: `ou-${this.#options.seed}-${n}`,
        type: 'order_update',
        time: new Date(time).toISOString(),
        key: order.user,
        data: { order_id: order.orderId, status: ORDER_STEPS[order.step]! },
      };
      if (++order.step >= ORDER_STEPS.length) this.#open.splice(at, 1);
    }
    this.#remember(event);
    return event;
  }

  /** Recent orders not yet delivered, for their next update. */
  readonly #open: Array<{ orderId: string; user: string; step: number }> = [];

  #remember(event: RawEvent): void {
    this.#recent.push(event);
    if (this.#recent.length > 1_000) this.#recent.shift();
  }

  #int(from: number, to: number): number {
    return this.#rng.int(from, to);
  }

  #chance(p: number): boolean {
    return this.#rng.chance(p);
  }

  #pick<T>(items: readonly T[]): T {
    return this.#rng.pick(items);
  }
}
