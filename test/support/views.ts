/**
 * The view fixtures tests and benches share: every measure kind over one numeric field, and
 * the sales view built from it (a where clause, two dimensions, minute buckets).
 */

/** Every measure kind (count, sum, max, min, avg, distinct, quantile) over `path`, named as the demo names them. */
export function everyMeasure<P extends string, Q extends readonly number[]>(path: P, q: Q) {
  return {
    orders: 'count',
    revenue: { sum: path },
    biggest: { max: path },
    smallest: { min: path },
    basket: { avg: path },
    buyers: { distinct: 'key' },
    amount_q: { quantile: path, q },
  } as const;
}

/** Web and app purchases per minute, country and channel, with every measure kind over the amount. */
export const salesView = {
  name: 'sales',
  events: ['purchase'],
  where: { 'data.channel': ['web', 'app'] },
  granularity: 'minute',
  dimensions: ['data.country', 'data.channel'],
  measures: everyMeasure('data.amount', [0.5, 0.9]),
} as const;
