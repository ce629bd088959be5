import { compileView, parseViews } from '../shared/views/index.js';
import { everyMeasure } from '../test/support/views.js';

/** The views the batch benches compute (bench/recompute.ts, bench/growth.ts): minute buckets with sketches, hourly buckets with every measure. */
export const demoViews = parseViews([
  {
    name: 'page_views_by_path',
    events: ['page_view'],
    granularity: 'minute',
    dimensions: ['data.path'],
    measures: { views: 'count', visitors: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.95, 0.99] } },
  },
  {
    name: 'revenue_by_country',
    events: ['purchase'],
    granularity: 'hour',
    dimensions: ['data.country'],
    measures: everyMeasure('data.amount', [0.5, 0.95, 0.99]),
  },
]).map(compileView);
