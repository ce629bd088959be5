/**
 * The seeded material of the interleaving test: a random source, the events a schedule
 * ingests (late events, retries with the same or other content, the same id under
 * another key) and the queries it asks (granularity, group-by, where, from/to).
 */
import { Rng } from '../../shared/random.js';
import type { RawEvent } from '../../shared/demo/generator.js';
import type { RefQuery, RefView } from './reference.js';

// The shared seeded source; re-exported for the interleaving and kill tests.
export { Rng };

const COUNTRIES = ['DE', 'FR', 'US', 'JP'];
const CHANNELS = ['web', 'app', 'email'];
const DEVICES = ['desktop', 'mobile', 'tablet'];

/** Every measure kind, a where clause, a view without dimensions, three granularities. */
export const interleavingViews = [
  {
    name: 'sales',
    events: ['purchase'],
    where: { 'data.channel': ['web', 'app'] },
    granularity: 'minute',
    dimensions: ['data.country', 'data.channel'],
    measures: {
      orders: 'count',
      revenue: { sum: 'data.amount' },
      biggest: { max: 'data.amount' },
      smallest: { min: 'data.amount' },
      basket: { avg: 'data.amount' },
      buyers: { distinct: 'key' },
      amount_q: { quantile: 'data.amount', q: [0.5, 0.9] },
    },
  },
  {
    name: 'traffic',
    events: ['page_view', 'signup'],
    granularity: 'hour',
    dimensions: ['type', 'data.device', 'data.country'],
    measures: { hits: 'count', users: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.99] }, slowest: { max: 'data.latency_ms' } },
  },
  {
    name: 'totals',
    events: ['purchase', 'page_view', 'signup'],
    granularity: 'day',
    dimensions: [],
    measures: { events: 'count', ids: { distinct: 'id' } },
  },
] as const satisfies readonly RefView[];

/** Values a dimension of the views above can take (plus ones that never occur). */
const DIMENSION_VALUES: Record<string, readonly string[]> = {
  'data.country': [...COUNTRIES, 'XX'],
  'data.channel': CHANNELS,
  'data.device': DEVICES,
  type: ['page_view', 'signup', 'purchase'],
};

/**
 * New events and retries. Retries come in three kinds: the same event again (a duplicate
 * while inside the dedupe window), the same id and key with other content (the first
 * occurrence wins), and the same id under another key (another partition, mostly: then it
 * is not a duplicate at all).
 */
export class EventMaker {
  readonly #rng: Rng;
  readonly #prefix: string;
  readonly #sent: RawEvent[] = [];
  #n = 0;

  constructor(rng: Rng, prefix: string) {
    this.#rng = rng;
    this.#prefix = prefix;
  }

  fresh(now: number): RawEvent {
    const r = this.#rng;
    const id = `${this.#prefix}-${++this.#n}`;
    // Late events hours or days behind; most a few minutes around now; a few ahead (< 1 h).
    const time = r.chance(0.15) ? now - r.int(3_600_000, 3 * 86_400_000) : r.chance(0.05) ? now + r.int(0, 1_800_000) : now - r.int(0, 300_000);
    const key = r.chance(0.1) ? undefined : `user-${r.int(1, 40)}`;
    const country = r.chance(0.05) ? undefined : r.pick(COUNTRIES);
    const roll = r.int(1, 100);
    let event: RawEvent;
    if (roll <= 50) {
      const latency = r.chance(0.05) ? 'slow' : r.chance(0.9) ? r.int(20, 400) : r.int(400, 5_000);
      event = { id, type: 'page_view', time: r.chance(0.5) ? new Date(time).toISOString() : time, data: { device: r.pick(DEVICES), latency_ms: latency, ...(country ? { country } : {}) } };
    } else if (roll <= 65) {
      event = { id, type: 'signup', time: new Date(time).toISOString(), data: { channel: r.pick(CHANNELS), ...(country ? { country } : {}) } };
    } else {
      // amounts: integer euros, cents, a non-number now and then (ignored, like SQL NULL), or missing
      const amount = r.chance(0.05) ? 'n/a' : r.chance(0.05) ? undefined : r.chance(0.5) ? r.int(1, 500) : r.int(1, 50_000) / 100;
      event = {
        id,
        type: 'purchase',
        time: new Date(time).toISOString(),
        data: { channel: r.pick(CHANNELS), ...(country ? { country } : {}), ...(amount !== undefined ? { amount } : {}) },
      };
    }
    if (key) event.key = key;
    this.#sent.push(event);
    return event;
  }

  /** An event sent before, again; undefined before anything was sent. */
  retry(now: number): RawEvent | undefined {
    if (this.#sent.length === 0) return undefined;
    const r = this.#rng;
    // mostly recent ones (likely inside a short dedupe window), sometimes old ones
    const earlier = r.chance(0.7) ? this.#sent[Math.max(0, this.#sent.length - r.int(1, 30))]! : r.pick(this.#sent);
    const roll = r.int(1, 100);
    if (roll <= 70) return structuredClone(earlier);
    if (roll <= 90) {
      const other = this.fresh(now);
      this.#sent.pop();
      const changed: RawEvent = { ...other, id: earlier.id };
      if (earlier.key === undefined) delete changed.key;
      else changed.key = earlier.key;
      return changed;
    }
    return { ...structuredClone(earlier), key: `other-${r.int(1, 1_000)}` };
  }

  /** A request body: fresh events with retries mixed in, sometimes the same event twice in one request. */
  batch(now: number, retriesOnly = false): RawEvent[] {
    const r = this.#rng;
    const out: RawEvent[] = [];
    const n = r.int(1, retriesOnly ? 8 : 25);
    for (let i = 0; i < n; i++) {
      const retry = retriesOnly || r.chance(0.1) ? this.retry(now) : undefined;
      out.push(retry ?? this.fresh(now));
    }
    if (out.length > 0 && r.chance(0.1)) out.push(structuredClone(r.pick(out)));
    return out;
  }
}

export interface PlannedQuery {
  readonly url: string;
  readonly ref: RefQuery;
  readonly groupBy: readonly string[];
  readonly description: string;
}

const COARSER = { minute: ['minute', 'hour', 'day'], hour: ['hour', 'day'], day: ['day'] } as const;

/** The view's own query (no parameters), or a random one: granularity, group_by, where, from/to. */
export function planQuery(rng: Rng | undefined, view: RefView, now: number): PlannedQuery {
  const dims = view.dimensions ?? [];
  const params = new URLSearchParams();
  let ref: RefQuery = {};
  let groupBy: readonly string[] = dims;
  if (rng) {
    if (rng.chance(0.7)) {
      const granularity = rng.pick(COARSER[view.granularity]);
      params.set('granularity', granularity);
      ref = { ...ref, granularity };
    }
    if (rng.chance(0.7)) {
      groupBy = rng.subset(dims);
      params.set('group_by', groupBy.join(','));
      ref = { ...ref, groupBy };
    }
    if (dims.length > 0 && rng.chance(0.3)) {
      const dim = rng.pick(dims);
      const values = rng.subset(DIMENSION_VALUES[dim]!);
      if (values.length > 0) {
        params.set(`where.${dim}`, values.join(','));
        ref = { ...ref, where: { [dim]: values } };
      }
    }
    if (rng.chance(0.2)) {
      const from = now - rng.int(0, 2 * 86_400_000);
      params.set('from', rng.chance(0.5) ? new Date(from).toISOString() : String(from));
      ref = { ...ref, from };
      if (rng.chance(0.5)) {
        const to = from + rng.int(60_000, 86_400_000);
        params.set('to', new Date(to).toISOString());
        ref = { ...ref, to };
      }
    }
  }
  const text = params.toString();
  return { url: `/v1/views/${view.name}${text ? `?${text}` : ''}`, ref, groupBy, description: `${view.name}?${decodeURIComponent(text)}` };
}
