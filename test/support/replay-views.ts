import { compileView, parseViews } from '../../shared/views/index.js';

/** Views over the demo events with every kind of state (counts, sums, extremes, HLL, sketches), for the replay checkpoint tests. */
export const replayViews = parseViews([
  {
    name: 'pages',
    events: ['page_view'],
    granularity: 'minute',
    dimensions: ['data.path'],
    measures: { views: 'count', visitors: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.99] } },
  },
  {
    name: 'revenue',
    events: ['purchase'],
    granularity: 'hour',
    dimensions: ['data.country'],
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, basket: { avg: 'data.amount' }, smallest: { min: 'data.amount' }, biggest: { max: 'data.amount' } },
  },
]).map(compileView);

/** A window that the demo's retries fall in: duplicates are found across checkpoints. */
export const REPLAY_WINDOW_MS = 3_600_000;
