/**
 * A seeded source of awkward events for the batch layer's ground-truth acceptance test
 * (test/integration/ground-truth.test.ts), and the views it checks. Everything a client
 * can legally send and a view must get right: several event types (one no view reads),
 * unicode and escaped dimension strings (NFC and NFD spellings kept apart, the empty
 * string), numbers and booleans as dimension values, missing, null and non-scalar values
 * (→ null), numeric strings and booleans in numeric fields (ignored), zeros and negatives
 * in quantiles, nested data paths, events without a key or without data, times as epoch
 * ms or RFC 3339 with zones, late events hours or days behind — and the retries that
 * dedupe must handle: exact, with changed content (the first occurrence wins), and with
 * another key (another partition: not a duplicate there).
 */
import { Rng } from '../../shared/random.js';
import type { RefView } from './reference.js';

/** An event as a client posts it. */
export interface GtEvent {
  id: string;
  type: string;
  time: number | string;
  key?: string;
  data?: Record<string, unknown>;
}

/** The stream's "now": normal events fall around it, crossing an hour, a day and a year boundary. */
export const GT_T0 = Date.UTC(2025, 11, 31, 23, 40);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * Dimension vocabularies. Countries mix scripts, an NFD spelling beside its NFC twin, a
 * flag (surrogate pairs), quotes, a backslash, a comma and the empty string.
 */
export const COUNTRIES = ['DE', 'Côte d’Ivoire', '日本', 'Ελλάδα', 'España', 'Espan\u0303a', '🇧🇷 Brasil', 'Zürich "ZH"', 'back\\slash', 'São Paulo, BR', ''] as const;
const CHANNELS = ['web', 'app', 'email'] as const;
const SECTIONS = ['home', 'product', 'ünïcödé', 'カート', 'tab\there'] as const;
const DEVICES = ['mobile', 'tablet', 'desktop'] as const;
const PLANS = ['free', 'pro', 'team'] as const;
const REFERRERS = ['google', 'newsletter', 'ami·e', '👍'] as const;
/** Numbers whose JSON text is easy to get wrong: exponents both ways, float noise, beyond 2^53. */
const SCORES = [1e21, 1.5e-7, 0.1 + 0.2, -5, 100, 12345678901234567000, 0] as const;

export const groundTruthViews = [
  {
    name: 'sales',
    events: ['purchase'],
    granularity: 'minute',
    dimensions: ['data.country', 'data.channel', 'data.vip'],
    measures: {
      orders: 'count',
      revenue: { sum: 'data.amount' },
      biggest: { max: 'data.amount' },
      smallest: { min: 'data.amount' },
      basket: { avg: 'data.amount' },
      buyers: { distinct: 'key' },
      amount_q: { quantile: 'data.amount', q: [0.5, 0.9, 0.99] },
    },
  },
  {
    name: 'web_latency',
    events: ['page_view'],
    where: { 'data.device': ['mobile', 'tablet'] },
    granularity: 'hour',
    dimensions: ['data.page.section', 'data.status'],
    measures: {
      views: 'count',
      latency_q: { quantile: 'data.timing.latency_ms', q: [0, 0.25, 0.5, 0.75, 1] },
      slowest: { max: 'data.timing.latency_ms' },
      fastest: { min: 'data.timing.latency_ms' },
      mean_latency: { avg: 'data.timing.latency_ms' },
      visitors: { distinct: 'key' },
      drift: { sum: 'data.timing.drift' },
      drift_q: { quantile: 'data.timing.drift', q: [0.1, 0.5, 0.9] },
    },
  },
  {
    name: 'activity',
    events: ['purchase', 'signup', 'page_view', 'refund'],
    granularity: 'day',
    dimensions: ['type', 'data.country'],
    measures: { events: 'count', users: { distinct: 'key' }, items: { sum: 'data.items' }, ids: { distinct: 'id' } },
  },
  {
    name: 'signups',
    events: ['signup'],
    // numbers and booleans in a where: compared as dimension strings ("2" the string matches 2)
    where: { 'data.plan': ['free', 'pro'], 'data.tier': [1, 2, true] },
    granularity: 'hour',
    dimensions: ['data.referrer', 'data.score', 'key'],
    measures: {
      signups: 'count',
      age_sum: { sum: 'data.profile.age' },
      youngest: { min: 'data.profile.age' },
      oldest: { max: 'data.profile.age' },
      mean_age: { avg: 'data.profile.age' },
      emails: { distinct: 'data.email' },
    },
  },
  {
    name: 'totals',
    events: ['purchase', 'refund'],
    granularity: 'minute',
    measures: { n: 'count', amount: { sum: 'data.amount' }, items_q: { quantile: 'data.items', q: [0.5, 0.95] } },
  },
] as const satisfies readonly RefView[];

/** Query filters worth asking per view: dimension → values (none containing a comma). */
export const groundTruthFilters: Record<string, Record<string, string[]>> = {
  sales: { 'data.country': ['日本', 'Espan\u0303a', ''], 'data.vip': ['true'] },
  web_latency: { 'data.page.section': ['ünïcödé', 'tab\there'], 'data.status': ['404', '500'] },
  activity: { type: ['refund', 'signup'], 'data.country': ['🇧🇷 Brasil', 'Zürich "ZH"'] },
  signups: { 'data.score': ['1e+21', '0.30000000000000004', '-5'], 'data.referrer': ['ami·e'] },
  totals: {},
};

export class GroundTruthEvents extends Rng {
  readonly seed: number;
  #n = 0;
  readonly #users: number;

  constructor(seed: number, users = 60) {
    super(seed);
    this.seed = seed;
    this.#users = users;
  }

  /** `n` new events; `lateRate` of them hours to days behind the stream. */
  fresh(n: number, lateRate = 0.1): GtEvent[] {
    return Array.from({ length: n }, () => this.event(lateRate));
  }

  /** Exact retries of `k` events picked from `earlier`: same id, key and content. */
  retries(earlier: readonly GtEvent[], k: number): GtEvent[] {
    return Array.from({ length: k }, () => structuredClone(this.pick(earlier)));
  }

  /**
   * The same ids and keys with other content (time, data, sometimes type): when a
   * duplicate, the first occurrence wins, whatever the type of either.
   */
  changed(earlier: readonly GtEvent[], k: number): GtEvent[] {
    return Array.from({ length: k }, () => {
      const original = this.pick(earlier);
      const other = this.event(0.3, this.chance(0.3) ? undefined : original.type);
      return { ...other, id: original.id, ...(original.key !== undefined ? { key: original.key } : {}) };
    });
  }

  /** The same ids under another key: another partition on a partitioned log, so counted again there. */
  rekeyed(earlier: readonly GtEvent[], k: number): GtEvent[] {
    return Array.from({ length: k }, () => {
      const original = structuredClone(this.pick(earlier));
      return { ...original, key: `moved-${this.int(1, 1_000_000)}` };
    });
  }

  /** Shuffles in place (Fisher–Yates), so retries interleave with new events. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  event(lateRate: number, type?: string): GtEvent {
    const n = ++this.#n;
    const late = this.chance(lateRate);
    const ms = late ? GT_T0 - this.int(HOUR, 5 * DAY) : GT_T0 + this.int(-30 * MINUTE, 40 * MINUTE);
    const kind = type ?? this.pick(['purchase', 'purchase', 'page_view', 'page_view', 'page_view', 'signup', 'refund', 'heartbeat']);
    const event: GtEvent = { id: `${kind}-${this.seed}-${n}`, type: kind, time: this.time(ms) };
    // An event without a key is keyed (and partitioned, and counted as a user) by its id.
    if (!this.chance(0.1)) event.key = `user-${this.int(1, this.#users)}`;
    const data = this.data(kind);
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

  data(kind: string): Record<string, unknown> | undefined {
    if (this.chance(0.03)) return undefined;
    const put = (out: Record<string, unknown>, name: string, v: unknown) => {
      if (v !== undefined) out[name] = v;
    };
    const out: Record<string, unknown> = {};
    switch (kind) {
      case 'purchase':
      case 'refund': {
        const cents = this.chance(0.9) ? this.int(1, 15_000) : this.int(15_000, 2_500_000);
        put(out, 'amount', this.awkward(() => (kind === 'refund' ? -cents / 100 : cents / 100)));
        put(out, 'items', this.awkward(() => this.int(0, 9), 0.1));
        put(out, 'country', this.awkward(() => this.pick(COUNTRIES), 0.1));
        put(out, 'channel', this.awkward(() => this.pick(CHANNELS), 0.1));
        put(out, 'vip', this.awkward(() => this.chance(0.3), 0.2));
        break;
      }
      case 'page_view': {
        const page: Record<string, unknown> = { path: `/p/${this.int(1, 20)}` };
        put(page, 'section', this.awkward(() => this.pick(SECTIONS), 0.15));
        put(out, 'page', this.chance(0.05) ? 'not an object' : page);
        put(out, 'device', this.awkward(() => this.pick(DEVICES), 0.1));
        put(out, 'status', this.awkward(() => this.pick([200, 200, 200, 404, 500]), 0.1));
        put(out, 'country', this.awkward(() => this.pick(COUNTRIES), 0.1));
        put(out, 'items', this.awkward(() => this.int(0, 3), 0.5));
        const timing: Record<string, unknown> = {};
        put(timing, 'latency_ms', this.awkward(() => (this.chance(0.05) ? 0 : this.chance(0.9) ? this.int(5, 400) : this.int(400, 9_000) + this.int(0, 99) / 100), 0.1));
        put(timing, 'drift', this.awkward(() => this.pick([0, -1, 1]) * this.int(0, 5_000) / 10, 0.1));
        put(out, 'timing', timing);
        break;
      }
      case 'signup': {
        put(out, 'plan', this.awkward(() => this.pick(PLANS), 0.1));
        put(out, 'tier', this.pick([1, 2, '2', 3, true, false, undefined, null]));
        put(out, 'referrer', this.awkward(() => this.pick(REFERRERS), 0.3));
        put(out, 'score', this.awkward(() => this.pick(SCORES), 0.1));
        put(out, 'country', this.awkward(() => this.pick(COUNTRIES), 0.1));
        put(out, 'email', this.awkward(() => `u${this.int(1, 80)}@example.com`, 0.1));
        put(out, 'profile', { age: this.awkward(() => this.int(16, 90), 0.2) });
        break;
      }
      default:
        put(out, 'beat', this.int(0, 100));
    }
    return out;
  }
}
