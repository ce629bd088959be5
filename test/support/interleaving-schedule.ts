/**
 * The seeded material of the interleaving test: a random source, its views and the queries
 * it asks (granularity, group-by, where, from/to). Its events come from the tests' one
 * generator (events.ts, shop profile).
 */
import { Rng } from '../../shared/random.js';
import { SHOP_CHANNELS, SHOP_COUNTRIES, SHOP_DEVICES } from './events.js';
import { salesView } from './views.js';
import type { RefQuery, RefView } from './reference.js';

// The shared seeded source; re-exported for the interleaving and kill tests.
export { Rng };

/** Every measure kind, a where clause, a view without dimensions, three granularities. */
export const interleavingViews = [
  salesView,
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
  {
    // An entity view (issue 17): per user for all time, the last page and country, the first
    // device, the countries seen, the top devices.
    name: 'profiles',
    events: ['page_view', 'signup', 'purchase'],
    granularity: 'none',
    dimensions: ['key'],
    measures: {
      events: 'count',
      last_device: { latest: 'data.device' },
      first_country: { first: 'data.country' },
      last_amount: { latest: 'data.amount' },
      countries: { values: 'data.country', max: 3 },
      top_devices: { topk: 'data.device', k: 2, capacity: 2 },
    },
  },
  {
    // Entities fed from every partition: the newest device per country, ties across partitions.
    name: 'by_country',
    events: ['page_view', 'signup', 'purchase'],
    granularity: 'none',
    dimensions: ['data.country'],
    measures: { events: 'count', last_device: { latest: 'data.device' }, first_device: { first: 'data.device' } },
  },
] as const satisfies readonly RefView[];

/** Values a dimension of the views above can take (plus ones that never occur). */
const DIMENSION_VALUES: Record<string, readonly string[]> = {
  key: ['user-1', 'user-2', 'user-3', 'user-40', 'nobody'],
  'data.country': [...SHOP_COUNTRIES, 'XX'],
  'data.channel': SHOP_CHANNELS,
  'data.device': SHOP_DEVICES,
  type: ['page_view', 'signup', 'purchase'],
};

export interface PlannedQuery {
  readonly url: string;
  readonly ref: RefQuery;
  readonly groupBy: readonly string[];
  readonly description: string;
}

const COARSER = { minute: ['minute', 'hour', 'day', 'all'], hour: ['hour', 'day', 'all'], day: ['day', 'all'], none: ['none', 'all'] } as const;

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
    if (dims.length > 0 && rng.chance(0.2)) {
      const dim = rng.pick(dims);
      const values = rng.subset(DIMENSION_VALUES[dim]!);
      if (values.length > 0) {
        for (const v of values) params.append(`where_not.${dim}`, v);
        ref = { ...ref, whereNot: { [dim]: values } };
      }
    }
    // The steps after the merge: an order by what the reference computes exactly (counts,
    // min, max, dimensions, bucket), `having` on a count, and a page.
    const kind = (spec: unknown) => (spec === 'count' ? 'count' : Object.keys(spec as object).find((k) => !['q', 'max', 'k', 'capacity'].includes(k))!);
    const exact = Object.entries(view.measures).filter(([, spec]) => ['count', 'min', 'max'].includes(kind(spec))).map(([name]) => name);
    if (rng.chance(0.4)) {
      const keys = rng.subset([...exact, ...groupBy, 'bucket']).slice(0, 2);
      if (keys.length > 0) {
        const orderBy = keys.map((key) => ({ key, desc: rng.chance(0.5) }));
        params.set('order_by', orderBy.map((o) => `${o.desc ? '-' : ''}${o.key}`).join(','));
        ref = { ...ref, orderBy };
      }
    }
    if (rng.chance(0.2)) {
      const count = Object.entries(view.measures).find(([, spec]) => spec === 'count')![0];
      const having = [{ measure: count, op: rng.pick(['gt', 'gte', 'lt', 'ne'] as const), value: rng.int(0, 3) }];
      params.set(`having.${count}`, `${having[0]!.op}:${having[0]!.value}`);
      ref = { ...ref, having };
    }
    if (rng.chance(0.3)) {
      const limit = rng.int(1, 20);
      params.set('limit', String(limit));
      ref = { ...ref, limit };
      if (rng.chance(0.5)) {
        const offset = rng.int(0, 10);
        params.set('offset', String(offset));
        ref = { ...ref, offset };
      }
    }
    // A view without buckets takes no range.
    if (view.granularity !== 'none' && rng.chance(0.2)) {
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
