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
] as const satisfies readonly RefView[];

/** Values a dimension of the views above can take (plus ones that never occur). */
const DIMENSION_VALUES: Record<string, readonly string[]> = {
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
