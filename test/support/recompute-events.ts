import { Rng } from '../../shared/random.js';
import type { StoredEvent } from '../../shared/events/index.js';
import type { Position } from '../../shared/log/types.js';
import { ViewTable, compileView, parseViews, type CompiledView } from '../../shared/views/index.js';
import type { TestRecord } from './recompute-archive.js';

/** A seeded source of awkward log records for comparing the SQL with the TypeScript fold. */
export class RecordMaker extends Rng {
  /**
   * `n` records over `partitions`: retries of recent ids (same or other partition, same or
   * other content and type), append times that mostly rise but sometimes step back, late
   * event times, and data fields that are strings, numbers, booleans, null, objects,
   * arrays, numeric strings or missing.
   */
  records(n: number, partitions: number): TestRecord[] {
    const out: TestRecord[] = [];
    const next = Array.from({ length: partitions }, () => 0);
    const clock = Array.from({ length: partitions }, () => 1_000_000);
    const recent: Array<{ partition: number; event: StoredEvent }> = [];
    const start = Date.UTC(2026, 10, 27, 22, 0);
    for (let i = 0; i < n; i++) {
      let partition = this.int(0, partitions - 1);
      let event: StoredEvent;
      if (recent.length > 0 && this.chance(0.3)) {
        const earlier = this.pick(recent);
        // mostly a true retry (same partition); sometimes the same id elsewhere, not a duplicate
        if (this.chance(0.8)) partition = earlier.partition;
        event = this.chance(0.7) ? earlier.event : { ...this.event(start, i), id: earlier.event.id };
      } else {
        event = this.event(start, i);
      }
      clock[partition]! += this.chance(0.1) ? -this.int(0, 300) : this.int(0, 2_000);
      out.push({ partition, offset: next[partition]!++, appendTime: clock[partition]!, event });
      recent.push({ partition, event });
      if (recent.length > 50) recent.shift();
    }
    return out;
  }

  event(start: number, i: number): StoredEvent {
    const late = this.chance(0.1) ? this.int(0, 3 * 86_400_000) : 0;
    const event: { -readonly [K in keyof StoredEvent]: StoredEvent[K] } = {
      id: `${this.pick(['ev', 'ä', '事件', 'x'])}-${i}`,
      type: this.pick(['page_view', 'page_view', 'purchase', 'signup', 'other']),
      time: start + this.int(0, 6 * 3_600_000) - late,
    };
    if (this.chance(0.8)) event.key = `user-${this.int(1, 40)}`;
    if (this.chance(0.95)) {
      const data: Record<string, unknown> = {};
      const put = (k: string, make: () => unknown) => {
        if (this.chance(0.85)) data[k] = make();
      };
      put('path', () => this.pick(['/', '/cart', '/produkt/straße', '/日本', '/😀', 'e\u0301', '', 'a"b\\c', 'tab\tnew\nline']));
      put('country', () => this.pick(['DE', 'FR', 'CÔTE-D’IVOIRE', 3, 3.5, '3', true, null, { x: 1 }, [1]]));
      put('channel', () => this.pick(['web', 'app', 'email', 1, false]));
      put('amount', () => this.number());
      put('latency_ms', () => (this.chance(0.9) ? this.int(0, 5_000) : this.pick(['12', null, true, { v: 1 }])));
      put('code', () => this.pick([0, 1, -1, 19.99, 0.1, 1e-7, 1.5e-7, 1e-6, 1e21, 1e20, 123456789012345680000, 2 ** 53, 2 ** 64, -(2 ** 63), 5e-324, 1.7976931348623157e308, 0.30000000000000004, 100, 1e16]));
      put('nested', () => (this.chance(0.8) ? { a: { b: this.pick(['x', 'y', 7, 2.5, null]) } } : this.pick([[1], 'flat', 4])));
      event.data = data;
    }
    return event;
  }

  /** Values a numeric measure meets: ints, cents, negatives, zeros, tiny ones, non-numbers. */
  number(): unknown {
    switch (this.int(0, 9)) {
      case 0:
        return this.int(-1_000, 1_000);
      case 1:
        return 0;
      case 2:
        return this.pick(['3', null, true, { n: 1 }, [2]]);
      case 3:
        return this.pick([1e-10, -1e-10, 1e-9, -1e-9, 1e-8, 5e-324]);
      case 4:
        return -this.int(1, 10_000_000) / 1000;
      default:
        return this.int(0, 250_000) / 100;
    }
  }

  /** A snapshot below the records' end: some partitions cut short, some not listed. */
  snapshot(records: readonly TestRecord[], partitions: number): Position {
    const end = Array.from({ length: partitions }, () => 0);
    for (const r of records) end[r.partition] = Math.max(end[r.partition]!, r.offset + 1);
    const s: Position = {};
    end.forEach((e, p) => {
      if (this.chance(0.9)) s[p] = this.chance(0.5) ? e : this.int(0, e);
    });
    return s;
  }
}

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
]).map(compileView);

/**
 * The dedupe rule done the obvious way: per (partition, id), the latest append time seen so
 * far in offset order; a record is a duplicate when that is at least its own minus the window.
 */
export function dedupeReference(records: readonly TestRecord[], snapshot: Position, windowMs: number): StoredEvent[] {
  const ordered = [...records].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const latest = new Map<string, number>();
  const out: StoredEvent[] = [];
  for (const r of ordered) {
    if (r.offset >= (snapshot[r.partition] ?? 0)) continue;
    const k = `${r.partition}\u0000${r.event.id}`;
    const prev = latest.get(k);
    latest.set(k, Math.max(prev ?? -Infinity, r.appendTime));
    if (prev !== undefined && prev >= r.appendTime - windowMs) continue;
    out.push(r.event);
  }
  return out;
}

/** The TypeScript fold of the surviving events, per view. */
export function foldReference(views: readonly CompiledView[], events: readonly StoredEvent[]): Map<string, ViewTable> {
  const tables = new Map(views.map((v) => [v.def.name, new ViewTable(v)]));
  for (const e of events) for (const t of tables.values()) t.add(e);
  return tables;
}
