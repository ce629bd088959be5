import type { StoredEvent } from '../../shared/events/index.js';
import type { Position } from '../../shared/log/types.js';
import { ViewTable, compileView, parseViews, type CompiledView } from '../../shared/views/index.js';
import type { TestRecord } from './recompute-archive.js';

/** Views over every measure kind, dimension path kind, where filter and granularity. */
export const equivalenceViews: CompiledView[] = parseViews([
  {
    name: 'pages',
    events: ['page_view'],
    granularity: 'minute',
    dimensions: ['data.path', 'data.country'],
    measures: {
      views: 'count',
      users: { distinct: 'key' },
      latency: { quantile: 'data.latency_ms', q: [0.5, 0.99] },
      latency_sum: { sum: 'data.latency_ms' },
      latency_avg: { avg: 'data.latency_ms' },
    },
  },
  {
    name: 'revenue',
    events: ['purchase', 'signup'],
    where: { 'data.channel': ['web', 'app', '1', 'false'] },
    granularity: 'hour',
    dimensions: ['data.country', 'type'],
    measures: {
      orders: 'count',
      revenue: { sum: 'data.amount' },
      smallest: { min: 'data.amount' },
      biggest: { max: 'data.amount' },
      basket: { avg: 'data.amount' },
      buyers: { distinct: 'key' },
      amounts: { quantile: 'data.amount', q: [0.5] },
      codes: { distinct: 'data.code' },
    },
  },
  {
    name: 'codes',
    events: ['page_view', 'purchase', 'signup', 'other'],
    granularity: 'day',
    dimensions: ['data.code', 'data.nested.b', 'key'],
    measures: { n: 'count', ids: { distinct: 'id' }, nested: { distinct: 'data.nested.a' }, hi: { max: 'data.code' }, lo: { min: 'data.nested.a.b' } },
  },
  {
    name: 'numeric_where',
    events: ['purchase', 'other', 'page_view'],
    where: { 'data.country': ['3', '3.5', 'true'], 'data.nested.a.b': ['x', '7', '2.5'] },
    granularity: 'minute',
    dimensions: [],
    measures: { n: 'count', paths: { distinct: 'data.path' }, q: { quantile: 'data.amount', q: [0.1] } },
  },
  {
    // An entity view: no time buckets; the newest and oldest values by (time, partition,
    // offset), a capped set of values, a top-k summary small enough to prune.
    name: 'entities',
    events: ['page_view', 'purchase', 'signup', 'other'],
    granularity: 'none',
    dimensions: ['key'],
    measures: {
      n: 'count',
      last_path: { latest: 'data.path' },
      first_country: { first: 'data.country' },
      last_amount: { latest: 'data.amount' },
      paths: { values: 'data.path', max: 4 },
      top_countries: { topk: 'data.country', k: 2, capacity: 3 },
    },
  },
  {
    // Entities whose records are in every partition (a country's events come from many keys):
    // ties in event time across partitions, decided by partition then offset.
    name: 'country_entities',
    events: ['page_view', 'purchase', 'signup', 'other'],
    granularity: 'none',
    dimensions: ['data.country'],
    measures: { n: 'count', last_path: { latest: 'data.path' }, first_path: { first: 'data.path' }, last_code: { latest: 'data.code' } },
  },
]).map(compileView);

/**
 * The dedupe rule done the obvious way: per (partition, id), the latest append time seen so
 * far in offset order; a record is a duplicate when that is at least its own minus the window.
 */
export function dedupeReference(records: readonly TestRecord[], snapshot: Position, windowMs: number): PlacedEvent[] {
  const ordered = [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const latest = new Map<string, number>();
  const out: PlacedEvent[] = [];
  for (const r of ordered) {
    if (r.offset >= (snapshot[r.partition] ?? 0)) continue;
    const k = `${r.partition}\u0000${r.event.id}`;
    const prev = latest.get(k);
    latest.set(k, Math.max(prev ?? -Infinity, r.appendTime));
    if (prev !== undefined && prev >= r.appendTime - windowMs) continue;
    out.push({ event: r.event, partition: r.partition, offset: r.offset });
  }
  return out;
}

/** An event with its record's place (latest/first order by it). */
export interface PlacedEvent {
  readonly event: StoredEvent;
  readonly partition: number;
  readonly offset: number;
}

/** The TypeScript fold of the surviving events, per view. */
export function foldReference(views: readonly CompiledView[], events: readonly PlacedEvent[]): Map<string, ViewTable> {
  const tables = new Map(views.map((v) => [v.def.name, new ViewTable(v)]));
  for (const e of events) for (const t of tables.values()) t.add(e.event, e);
  return tables;
}
