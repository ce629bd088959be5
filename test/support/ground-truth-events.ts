/**
 * The views of the batch layer's ground-truth acceptance test
 * (test/integration/ground-truth.test.ts), the filters it asks, and the instant its events
 * fall around. The events come from the tests' one generator (events.ts, ground-truth profile).
 */
import type { RefView } from './reference.js';
import { everyMeasure } from './views.js';

export type { RawEvent as GtEvent } from './events.js';

/** The stream's "now": normal events fall around it, crossing an hour, a day and a year boundary. */
export const GT_T0 = Date.UTC(2025, 11, 31, 23, 40);

export const groundTruthViews = [
  {
    name: 'sales',
    events: ['purchase'],
    granularity: 'minute',
    dimensions: ['data.country', 'data.channel', 'data.vip'],
    measures: everyMeasure('data.amount', [0.5, 0.9, 0.99]),
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
  {
    // A read model per customer: the awkward values (unicode, numbers' text forms, missing
    // and wrong-typed fields) through latest, first, values and topk; where.key is a point lookup.
    name: 'customers',
    events: ['purchase', 'signup', 'page_view', 'refund'],
    granularity: 'none',
    dimensions: ['key'],
    measures: {
      events: 'count',
      last_country: { latest: 'data.country' },
      first_country: { first: 'data.country' },
      last_amount: { latest: 'data.amount' },
      countries: { values: 'data.country', max: 4 },
      top_countries: { topk: 'data.country', k: 3, capacity: 4 },
      biggest: { max: 'data.amount' },
    },
  },
] as const satisfies readonly RefView[];

/** Query filters worth asking per view: dimension → values (none containing a comma). */
export const groundTruthFilters: Record<string, Record<string, string[]>> = {
  sales: { 'data.country': ['日本', 'Espan\u0303a', ''], 'data.vip': ['true'] },
  web_latency: { 'data.page.section': ['ünïcödé', 'tab\there'], 'data.status': ['404', '500'] },
  activity: { type: ['refund', 'signup'], 'data.country': ['🇧🇷 Brasil', 'Zürich "ZH"'] },
  customers: { key: ['user-3', 'user-17', 'nobody'] },
  signups: { 'data.score': ['1e+21', '0.30000000000000004', '-5'], 'data.referrer': ['ami·e'] },
  totals: {},
};
