/**
 * Serving at dashboard scale:
 *
 *   node --import tsx bench/query.ts [--groups 100000] [--connections 16] [--duration 10] [--ingest-rate 5000] [--query-threads 0] [--json]
 *
 * Starts a real `braid start` (embedded log, a temp directory) with two views of `groups`
 * groups (one hour bucket × country × user): `big` (count, sum, min, max) and
 * `big_sketches` (count, sum, distinct, quantiles); and an entity view of `groups` entities,
 * `entities` (granularity none, one row per user: the latest status and amount, the first
 * status, a count). Two events per user: 75 % of them go into a batch version, the rest stay
 * in the speed layer, so every Lambda answer merges both. A user's events are 1 ms apart in
 * event time (all in one hour bucket), except one user in eight per round after the first,
 * whose event arrives late (older than all its user's others): `latest` must pick by event
 * time, not arrival, and for some users the newest event is in the batch version while the
 * speed layer holds only a late one.
 *
 * The entity view's shapes: a point lookup of one key (every dimension named by where: a
 * binary search per table) and of 10 keys, each request another random user (seeded, cycling
 * through 10,000 different requests), and the same view scanned (where_not one key, first 10
 * rows) to compare them with. The server's engine counters are not served, so the engine also
 * runs in this process over the same tables (the batch version's file, the speed events
 * folded by the speed layer's ViewTable): its counters must show one binary search per table
 * and no row scanned for every lookup (engineLookups).
 *
 * 1. Every shape is checked against the exact answer, computed here from the events with
 *    the measures' own monoids (no storage, no merge, no serving code; for the entity view,
 *    each user's newest and oldest event by time): a wrong answer stops the bench before any
 *    rate is reported. A varying shape is checked on its first 200 requests.
 * 2. Alone: the median of 15 requests of each shape, one at a time, for Lambda answers and
 *    for `source=batch`, and DuckDB alone (in this process, warm) answering the count/sum/
 *    min/max shapes over the batch version's own Parquet file — the same data as
 *    `source=batch`, whose answers are compared with DuckDB's row for row first.
 * 3. Ingest alone: `ingest-rate` events/s in batches of 50 for `duration` s — the
 *    acknowledgement latency p50/p99 of POST /v1/events.
 * 4. The mix: `connections` connections, each cycling through the shapes (the lookups
 *    among them; not the entity view scanned, a shape to compare with, measured alone), for
 *    `duration` s, while the same ingest runs beside it: p50/p99 per shape and of the
 *    acknowledgements.
 * 5. After the mix (the speed layer caught up), every shape is checked again against the
 *    exact answer over all the events acknowledged, and braid's verification (a Kappa replay
 *    of the whole log) must match.
 * Bytes per group held by the engine come from a separate phase in a fresh process
 * (`--phase memory`): the structures a batch version and a sealed speed segment hold.
 */
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { Pool, request } from 'undici';
import { loadViewTable } from '../batch/recompute/load.js';
import { QueryCache, QueryEngine } from '../serving/query/index.js';
import { parseViewQuery } from '../serving/query/params.js';
import { distinct } from '../shared/measures/kinds/distinct.js';
import { quantile } from '../shared/measures/kinds/quantile.js';
import { Rng } from '../shared/random.js';
import { compileView, freezeRows, parseViews, ViewTable } from '../shared/views/index.js';
import { startBenchBraid, runPhaseProcess, type BenchBraid } from './processes.js';
import { emit, latencySummary, round, type Latency, type Measured } from './report.js';
import { MEMORY_VIEWS, phaseMemory } from './query-memory.js';

const { values: args } = parseArgs({
  options: {
    groups: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    'ingest-rate': { type: 'string', default: '5000' },
    // braid's query.threads (its default, 0, executes queries on the event loop): the A/B of the threads
    'query-threads': { type: 'string', default: '0' },
    // a CPU profile of the braid process (node --cpu-prof), written where it exits
    'cpu-prof-dir': { type: 'string' },
    phase: { type: 'string' },
    view: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const groups = Number(args.groups);
const connections = Number(args.connections);
const duration = Number(args.duration);
const ingestRate = Number(args['ingest-rate']);
const queryThreads = Number(args['query-threads']);

if (args.phase === 'memory') {
  process.stdout.write(`${JSON.stringify(await phaseMemory(groups, args.view as keyof typeof MEMORY_VIEWS))}\n`);
  process.exit(0);
}

const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ES', 'NL', 'IT'];
const ONE_USER = Math.floor(groups * 0.4242); // some user, whatever the size
const QUANTILES = [0.5, 0.95, 0.99];
const quantileMeasure = quantile(QUANTILES);

const STATUSES = ['placed', 'paid', 'shipped', 'delivered', 'returned'];

const userOf = (j: number) => j % groups;
const countryOf = (user: number) => COUNTRIES[user % COUNTRIES.length]!;
const amountOf = (j: number) => 1 + (j % 25_000) / 100;
/** Event j is its user's round-th event (users take turns: events 0 … groups - 1 are round 0). */
const roundOf = (j: number) => Math.floor(j / groups);
/** An event that arrives late: from round 1 on, one user in eight per round (never a user's first event). */
const isLate = (j: number) => roundOf(j) >= 1 && (userOf(j) + roundOf(j)) % 8 === 3;
/**
 * Event j's time, ms after `time`'s hour (as a negative offset from `time`, which is 60 s into
 * it, so every event stays in that one hour bucket): a user's events are 1 ms apart, one round
 * after another, and a late event is older than every one of its user's others (later rounds
 * older still), so no two events of a user share a time and `latest` / `first` have one answer
 * whatever the arrival order (concurrent ingest batches arrive in any order).
 */
function timeOf(j: number, time: number): number {
  const r = roundOf(j);
  if (r >= 20_000) throw new Error(`event ${j} is in round ${r}: more than 20,000 events per user leave the hour bucket`);
  return isLate(j) ? time - 40_001 - r : time - 40_000 + r;
}
const statusOf = (j: number) => STATUSES[roundOf(j) % STATUSES.length]!;
/** Event j of the load: user j mod groups, so every user has the same number of orders. */
function order(j: number, time: number) {
  const user = userOf(j);
  return { id: `order-${j}`, type: 'purchase', time: timeOf(j, time), key: `user-${user}`, data: { country: countryOf(user), amount: amountOf(j), status: statusOf(j) } };
}

const common = { events: ['purchase'], granularity: 'hour', dimensions: ['data.country', 'key'] };
const views = [
  { name: 'big', ...common, measures: { orders: 'count', revenue: { sum: 'data.amount' }, smallest: { min: 'data.amount' }, biggest: { max: 'data.amount' } } },
  {
    name: 'big_sketches',
    ...common,
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'id' }, amount_q: { quantile: 'data.amount', q: QUANTILES } },
  },
  // The entity view: one row per user for all time (`groups` entities), found by a point lookup.
  {
    name: 'entities',
    events: ['purchase'],
    granularity: 'none',
    dimensions: ['key'],
    measures: { status: { latest: 'data.status' }, total: { latest: 'data.amount' }, first_status: { first: 'data.status' }, events: 'count' },
  },
];

// ---------------------------------------------------------------------------------------
// The exact answers, from the events.

type Row = Record<string, unknown>;

/** Per user and per country, over events [0, total): what every checked shape reads. */
class Truth {
  readonly orders = new Float64Array(groups);
  readonly revenue = new Float64Array(groups);
  readonly smallest = new Float64Array(groups).fill(Infinity);
  readonly biggest = new Float64Array(groups).fill(-Infinity);
  readonly sketches = new Map<string, { orders: number; revenue: number; buyers: ReturnType<typeof distinct.init>; q: ReturnType<typeof quantileMeasure.init> }>();
  /** the entity view's: per user, the event with the newest / oldest time (ties are impossible: see timeOf) */
  readonly newest = new Int32Array(groups).fill(-1);
  readonly oldest = new Int32Array(groups).fill(-1);
  #sortedUsers: Int32Array | undefined;

  constructor(readonly total: number) {
    for (let j = 0; j < total; j++) {
      const u = userOf(j);
      const a = amountOf(j);
      const t = timeOf(j, 0);
      const newest = this.newest[u]!;
      const oldest = this.oldest[u]!;
      if (newest >= 0 && (timeOf(newest, 0) === t || timeOf(oldest, 0) === t)) throw new Error(`events ${j} and ${newest}/${oldest} of user ${u} have the same time`);
      if (newest < 0 || t > timeOf(newest, 0)) this.newest[u] = j;
      if (oldest < 0 || t < timeOf(oldest, 0)) this.oldest[u] = j;
      this.orders[u]!++;
      this.revenue[u]! += a;
      if (a < this.smallest[u]!) this.smallest[u] = a;
      if (a > this.biggest[u]!) this.biggest[u] = a;
      const c = countryOf(u);
      let s = this.sketches.get(c);
      if (!s) this.sketches.set(c, (s = { orders: 0, revenue: 0, buyers: distinct.init(), q: quantileMeasure.init() }));
      s.orders++;
      s.revenue += a;
      s.buyers = distinct.add(s.buyers, `order-${j}`);
      s.q = quantileMeasure.add(s.q, a);
    }
  }

  userRow(u: number): Row {
    return { 'data.country': countryOf(u), key: `user-${u}`, orders: this.orders[u]!, revenue: this.revenue[u]!, smallest: this.smallest[u]!, biggest: this.biggest[u]! };
  }

  /** A user's row of the entity view: the newest event's status and amount (as their text), the oldest's status. */
  entityRow(u: number): Row {
    const n = this.newest[u]!;
    return { bucket: null, key: `user-${u}`, status: statusOf(n), total: JSON.stringify(amountOf(n)), first_status: statusOf(this.oldest[u]!), events: this.orders[u]! };
  }

  /** The entity view's rows of these users (those with events), in its order: by key. */
  entityRows(users: readonly number[]): Row[] {
    return [...new Set(users)]
      .filter((u) => this.orders[u]! > 0)
      .sort((a, b) => compareText(`user-${a}`, `user-${b}`))
      .map((u) => this.entityRow(u));
  }

  /** The entity view's first `n` rows but `except`'s, in its order (every user has events: round 0 is in every Truth). */
  entityPageWithout(except: number, n: number): Row[] {
    return [...entityKeyOrder().subarray(0, n + 1)].filter((u) => u !== except).slice(0, n).map((u) => this.entityRow(u));
  }

  rollUp(): Row[] {
    const by = new Map<string, Row>();
    for (let u = 0; u < groups; u++) {
      if (this.orders[u] === 0) continue;
      const c = countryOf(u);
      const r = by.get(c) ?? { 'data.country': c, orders: 0, revenue: 0, smallest: Infinity, biggest: -Infinity };
      by.set(c, r);
      r.orders = (r.orders as number) + this.orders[u]!;
      r.revenue = (r.revenue as number) + this.revenue[u]!;
      r.smallest = Math.min(r.smallest as number, this.smallest[u]!);
      r.biggest = Math.max(r.biggest as number, this.biggest[u]!);
    }
    return [...by.values()].sort((a, b) => ((a['data.country'] as string) < (b['data.country'] as string) ? -1 : 1));
  }

  sketchRollUp(): Row[] {
    return [...this.sketches]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([c, s]) => {
        return { 'data.country': c, orders: s.orders, revenue: s.revenue, buyers: distinct.result(s.buyers), amount_q: quantileMeasure.result(s.q) };
      });
  }

  /** Users in the default order: country, then key (string order). */
  sortedUsers(): Int32Array {
    if (!this.#sortedUsers) {
      const keys = Array.from({ length: groups }, (_, u) => u).filter((u) => this.orders[u]! > 0);
      keys.sort((a, b) => {
        const ca = countryOf(a);
        const cb = countryOf(b);
        if (ca !== cb) return ca < cb ? -1 : 1;
        const ka = `user-${a}`;
        const kb = `user-${b}`;
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      });
      this.#sortedUsers = Int32Array.from(keys);
    }
    return this.#sortedUsers;
  }

  page(offset: number, limit: number): Row[] {
    return [...this.sortedUsers().subarray(offset, offset + limit)].map((u) => this.userRow(u));
  }

  /** The top `n` users by revenue, descending; ties by country then key. */
  topBy(n: number, keep: (u: number) => boolean): Row[] {
    const users = [...this.sortedUsers()].filter(keep);
    users.sort((a, b) => this.revenue[b]! - this.revenue[a]!); // stable: ties keep the default order
    return users.slice(0, n).map((u) => this.userRow(u));
  }
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
let keyOrder: Int32Array | undefined;
/** Every user, in the order of their keys' text (the entity view's order). */
function entityKeyOrder(): Int32Array {
  if (!keyOrder) {
    const keys = Array.from({ length: groups }, (_, u) => `user-${u}`);
    keyOrder = Int32Array.from(Array.from({ length: groups }, (_, u) => u).sort((a, b) => compareText(keys[a]!, keys[b]!)));
  }
  return keyOrder;
}

interface Shape {
  readonly name: string;
  /** its requests' path (the first one's, when it varies) */
  readonly path: string;
  /** the exact rows, in order (of the first request, when it varies) */
  exact(t: Truth): Row[];
  /**
   * A shape that asks something else each time (a lookup of another id): request i's path and
   * exact rows; its requests cycle through `requests` of them (pathOf).
   */
  readonly varies?: { readonly requests: number; path(i: number): string; exact(t: Truth, i: number): Row[] };
  /** the same shape in SQL over the batch version's Parquet of `big`, for DuckDB alone */
  readonly sql?: string;
  readonly params?: Record<string, string>;
  /** a count/sum/min/max shape: compared with DuckDB alone */
  readonly peer: boolean;
  /** a top-N by this float measure: see compareRows */
  readonly rankedBy?: string;
  /** false: a shape to compare with, measured alone only (not a dashboard's: it would change the mix) */
  readonly mixed?: false;
}

/** A shape whose request i asks `path(i)`, for `requests` different requests. */
function varying(name: string, requests: number, path: (i: number) => string, exact: (t: Truth, i: number) => Row[]): Shape {
  return { name, path: path(0), exact: (t) => exact(t, 0), varies: { requests, path, exact }, peer: false };
}

const asked = new Map<Shape, number>();
/** The path of a shape's next request: the same each time, or the next of the ones it cycles through. */
function pathOf(shape: Shape): string {
  if (!shape.varies) return shape.path;
  const i = asked.get(shape) ?? 0;
  asked.set(shape, i + 1);
  return shape.varies.path(i % shape.varies.requests);
}

/** Different lookups each lookup shape cycles through, and how many of them each check asks (the first ones). */
const LOOKUPS = 10_000;
const CHECKED_LOOKUPS = 200;
const lookupRng = new Rng(17);
/** Request i of the 1-key lookup: the entity of user LOOKUP_USERS[i] (seeded random, every user has one). */
const LOOKUP_USERS = Int32Array.from({ length: LOOKUPS }, () => lookupRng.int(0, groups - 1));
/** Request i of the 10-key lookup: ten different users, in random order. */
const LOOKUP_SETS = Array.from({ length: LOOKUPS }, () => {
  const users = new Set<number>();
  while (users.size < Math.min(10, groups)) users.add(lookupRng.int(0, groups - 1));
  return [...users];
});
const keysOf = (users: readonly number[]) => users.map((u) => `user-${u}`).join(',');

const M = 'sum(orders) AS orders, sum(revenue) AS revenue, min(smallest) AS smallest, max(biggest) AS biggest';
const LOOKUP_1 = 'point lookup on an entity view (1 key)';
const LOOKUP_10 = 'point lookup of 10 keys';
const ENTITY_SCAN = 'the entity view scanned (where_not one key, first 10 rows)';
const SHAPES: Shape[] = [
  {
    name: 'roll-up of every group to 10 rows',
    path: '/v1/views/big?granularity=day&group_by=data.country',
    exact: (t) => t.rollUp(),
    sql: `SELECT "data.country", ${M} FROM big GROUP BY (bucket // 86400000), "data.country" ORDER BY (bucket // 86400000), "data.country"`,
    peer: true,
  },
  {
    name: 'top 10 by revenue, granularity=all',
    path: '/v1/views/big?granularity=all&order_by=-revenue&limit=10',
    exact: (t) => t.topBy(10, () => true),
    rankedBy: 'revenue',
    sql: `SELECT "data.country", key, ${M} FROM big GROUP BY "data.country", key ORDER BY revenue DESC, "data.country", key LIMIT 10`,
    peer: true,
  },
  {
    name: 'one group',
    path: `/v1/views/big?where.key=user-${ONE_USER}`,
    exact: (t) => [t.userRow(ONE_USER)],
    sql: 'SELECT "data.country", key, orders, revenue, smallest, biggest FROM big WHERE key = $key ORDER BY bucket, "data.country"',
    params: { key: `user-${ONE_USER}` },
    peer: true,
  },
  {
    name: 'a page of 1,000 rows (offset 1,000)',
    path: '/v1/views/big?offset=1000&limit=1000',
    exact: (t) => t.page(1000, 1000),
    sql: 'SELECT "data.country", key, orders, revenue, smallest, biggest FROM big ORDER BY bucket, "data.country", key LIMIT 1000 OFFSET 1000',
    peer: true,
  },
  {
    name: 'roll-up with sketches (distinct, quantiles)',
    path: '/v1/views/big_sketches?granularity=day&group_by=data.country',
    exact: (t) => t.sketchRollUp(),
    peer: false,
  },
  {
    name: 'filtered top 10 (two countries)',
    path: '/v1/views/big?granularity=all&where.data.country=DE&where.data.country=FR&order_by=-revenue&limit=10',
    exact: (t) => t.topBy(10, (u) => countryOf(u) === 'DE' || countryOf(u) === 'FR'),
    rankedBy: 'revenue',
    sql: `SELECT "data.country", key, ${M} FROM big WHERE "data.country" IN ('DE', 'FR') GROUP BY "data.country", key ORDER BY revenue DESC, "data.country", key LIMIT 10`,
    peer: true,
  },
  // The entity view (granularity none, one row per user): every dimension named by where is a
  // point lookup, a binary search per table; where_not is no lookup, so the same view scanned.
  varying(LOOKUP_1, LOOKUPS, (i) => `/v1/views/entities?where.key=user-${LOOKUP_USERS[i]!}`, (t, i) => t.entityRows([LOOKUP_USERS[i]!])),
  varying(LOOKUP_10, LOOKUPS, (i) => `/v1/views/entities?where.key=${keysOf(LOOKUP_SETS[i]!)}`, (t, i) => t.entityRows(LOOKUP_SETS[i]!)),
  {
    name: ENTITY_SCAN,
    // user-0 is the first key: the first 10 rows after it.
    path: '/v1/views/entities?where_not.key=user-0&limit=10',
    exact: (t) => t.entityPageWithout(0, 10),
    peer: false,
    // A full scan of the view (and, with the speed layer's segments changing under ingest, the
    // map of a new segment's groups into the batch table, built anew): no dashboard's request.
    mixed: false,
  },
];

const close = (x: unknown, y: unknown): boolean =>
  x === y ||
  (typeof x === 'number' && typeof y === 'number' && Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1)) ||
  (x !== null && y !== null && typeof x === 'object' && typeof y === 'object' && Object.keys(y).length === Object.keys(x).length && Object.entries(y).every(([k, v]) => close((x as Row)[k], v)));

/** Whether every field of `expected` is close in `actual`. */
const sameRow = (actual: Row | undefined, expected: Row): boolean => actual !== undefined && Object.entries(expected).every(([k, v]) => close(actual[k], v));

/**
 * Problems of `actual` against `expected`: same rows, same order, every expected field equal.
 * A top-N by a float sum (`rankedBy`) may order two groups whose sums are equal but for the
 * rounding of different orders of addition either way (sums are exact within 1e-9 relative,
 * docs/contract.md), so there a row in another place than the exact one is accepted when its
 * ranked value is close to the exact row's at that place and it is its own group's exact row.
 */
function compareRows(what: string, actual: Row[], expected: Row[], truth?: { rankedBy?: string; rowOf: (r: Row) => Row | undefined }): string[] {
  if (actual.length !== expected.length) return [`${what}: ${actual.length} rows, exact ${expected.length}`];
  const seen = new Set<string>();
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const id = JSON.stringify([a['data.country'], a.key, a.bucket]);
    if (seen.has(id)) return [`${what}: row ${i} repeats a group (row ${JSON.stringify(a)})`];
    seen.add(id);
    if (sameRow(a, e)) continue;
    const by = truth?.rankedBy;
    const own = by === undefined ? undefined : truth!.rowOf(a);
    if (own !== undefined && close(a[by!], e[by!]) && sameRow(a, own)) continue;
    for (const [k, v] of Object.entries(e)) {
      if (!close(a[k], v)) return [`${what}: row ${i} ${k} = ${JSON.stringify(a[k])}, exact ${JSON.stringify(v)} (row ${JSON.stringify(a)})`];
    }
  }
  return [];
}

/** How compareRows finds a ranked row's own exact row: the user its key names. */
const ranking = (shape: Shape, t: Truth) => ({
  rankedBy: shape.rankedBy,
  rowOf: (r: Row) => (typeof r.key === 'string' && r.key.startsWith('user-') ? t.userRow(Number(r.key.slice(5))) : undefined),
});

// ---------------------------------------------------------------------------------------
// HTTP

/**
 * A control request (load, status, checks): once more when the kept-alive connection it
 * reused was reset (the server closed it while idle), never when braid itself is gone.
 */
async function once<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ECONNRESET' && code !== 'UND_ERR_SOCKET') throw err;
    return call();
  }
}

async function post(url: string, body: unknown, expected: number): Promise<any> {
  const res = await once(() => request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  const text = await res.body.text();
  if (res.statusCode !== expected) throw new Error(`${url}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

async function json(url: string): Promise<any> {
  const res = await once(() => request(url));
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

async function load(url: string, from: number, to: number, time: number): Promise<void> {
  for (let i = from; i < to; i += 10_000) {
    const events = [];
    for (let j = i; j < Math.min(to, i + 10_000); j++) events.push(order(j, time));
    await post(`${url}/v1/events`, events, 202);
  }
}

async function caughtUp(url: string): Promise<void> {
  for (;;) {
    const status = await json(`${url}/v1/status`);
    if (Object.values(status.speed.lag as Record<string, number>).every((n) => n === 0)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function checkShapes(url: string, truth: Truth, source?: 'batch'): Promise<string[]> {
  const problems: string[] = [];
  for (const shape of SHAPES) {
    // A varying shape: the first CHECKED_LOOKUPS of its requests (the alone phase asks these).
    const asks = shape.varies ? Array.from({ length: Math.min(CHECKED_LOOKUPS, shape.varies.requests) }, (_, i) => ({ path: shape.varies!.path(i), exact: (t: Truth) => shape.varies!.exact(t, i) })) : [shape];
    for (const ask of asks) {
      const answer = (await json(`${url}${ask.path}${source ? `&source=${source}` : ''}`)) as { rows: Row[] };
      const what = `${shape.name}${shape.varies ? ` (${ask.path})` : ''}${source ? ` (source=${source})` : ''}`;
      problems.push(...compareRows(what, answer.rows, ask.exact(truth), ranking(shape, truth)));
    }
  }
  return problems;
}

async function verify(url: string): Promise<{ problems: string[]; rowsCompared: number }> {
  const started = await post(`${url}/v1/verification`, {}, 202);
  for (;;) {
    const v = await json(`${url}/v1/verification/${started.id}`);
    if (v.state === 'running') {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const ok = v.state === 'succeeded' && v.ok;
    return { problems: ok ? [] : [`verification (Lambda vs a Kappa replay): ${v.state}, ${v.mismatchingRows ?? '?'} rows differ ${v.error ?? ''}`], rowsCompared: v.rowsCompared ?? 0 };
  }
}

/** The median of `n` requests of a shape one at a time (`suffix` after each path), ms. */
async function alone(base: string, shape: Shape, suffix = '', n = 15): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const url = `${base}${pathOf(shape)}${suffix}`;
    const t0 = performance.now();
    const res = await once(() => request(url));
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    times.push(performance.now() - t0);
  }
  return round(median(times), 2);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * POST /v1/events at `ingest-rate` events/s in batches of 50 for `seconds` (each batch on its own
 * schedule, so a slow acknowledgement does not slow the offered rate), from event `next`.
 */
async function steadyIngest(url: string, time: number, next: { j: number }, seconds: number): Promise<{ acks: number[]; events: number; non202: number }> {
  const pool = new Pool(url, { connections: 8 });
  const acks: number[] = [];
  let non202 = 0;
  const per = 50;
  const interval = (1000 * per) / ingestRate;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let events = 0;
  for (let k = 0; performance.now() - started < seconds * 1000; k++) {
    const due = started + k * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const batch = Array.from({ length: per }, () => order(next.j++, time));
    events += per;
    const t0 = performance.now();
    pending.push(
      pool
        .request({ path: '/v1/events', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode !== 202) non202++;
          acks.push(performance.now() - t0);
        })
        .catch(() => {
          non202++; // a connection refused or reset: not acknowledged
        }),
    );
  }
  await Promise.all(pending);
  await pool.close();
  return { acks, events, non202 };
}

/** `connections` loops, each cycling through the shapes from its own starting shape; latencies per shape. */
async function mix(url: string, seconds: number): Promise<Map<string, { latencies: number[]; non200: number }>> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const shapes = SHAPES.filter((s) => s.mixed !== false);
  const out = new Map(shapes.map((s) => [s.name, { latencies: [] as number[], non200: 0 }]));
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = c; performance.now() < end; i++) {
        const shape = shapes[i % shapes.length]!;
        const t0 = performance.now();
        const o = out.get(shape.name)!;
        try {
          const res = await pool.request({ path: pathOf(shape), method: 'GET' });
          await res.body.dump();
          if (res.statusCode !== 200) o.non200++;
          o.latencies.push(performance.now() - t0);
        } catch {
          o.non200++; // a connection refused or reset
          if (o.non200 > 100) return;
        }
      }
    }),
  );
  await pool.close();
  return out;
}

// ---------------------------------------------------------------------------------------
// DuckDB alone

async function versionFile(dataDir: string, view: string): Promise<string> {
  const versionsDir = path.join(dataDir, 'batch', 'versions');
  const latest = (await readdir(versionsDir)).filter((n) => /^\d+$/.test(n)).sort().at(-1)!;
  const manifest = JSON.parse(await readFile(path.join(versionsDir, latest, 'version.json'), 'utf8')) as { views: Record<string, { file: string }> };
  return path.join(versionsDir, latest, manifest.views[view]!.file);
}

async function duckRows(connection: DuckDBConnection, shape: Shape): Promise<Row[]> {
  const reader = await connection.runAndReadAll(shape.sql!, shape.params ?? {});
  return reader.getRowObjectsJS().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : (v as string | number | null)])));
}

async function duckAlone(connection: DuckDBConnection, shape: Shape, n = 15): Promise<number> {
  await duckRows(connection, shape); // warm
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    // The rows as JavaScript values, as braid's answer holds them (not serialised: braid's
    // figure includes HTTP and JSON, so this side is favoured).
    await duckRows(connection, shape);
    times.push(performance.now() - t0);
  }
  return round(median(times), 2);
}

// ---------------------------------------------------------------------------------------
// Whether the lookups used the index

/**
 * What the checked 1-key lookups cover: entities with rows in the speed layer too (a lookup
 * merges batch + speed), entities whose last event to arrive is not their newest (a late
 * event: `latest` must pick by event time), and of those, ones whose newest event is in the
 * batch version and a late one in the speed layer.
 */
function lookupCoverage(batch: Truth, all: Truth): { checked: number; withSpeedRows: number; lastArrivedNotNewest: number; newestInBatchLateInSpeed: number } {
  const users = [...new Set(LOOKUP_USERS.subarray(0, CHECKED_LOOKUPS))];
  /** user u's last event below all.total: events u, u + groups, … */
  const lastArrived = (u: number) => u + Math.floor((all.total - 1 - u) / groups) * groups;
  return {
    checked: users.length,
    withSpeedRows: users.filter((u) => all.orders[u]! > batch.orders[u]!).length,
    lastArrivedNotNewest: users.filter((u) => lastArrived(u) !== all.newest[u]).length,
    newestInBatchLateInSpeed: users.filter((u) => all.newest[u]! < batch.total && lastArrived(u) >= batch.total).length,
  };
}

/**
 * The server's engine counters (EngineStats) are not served over HTTP, so the same engine runs
 * here, in this process, over the same data: the batch version's own Parquet file of
 * `entities`, loaded as the server loads it (loadViewTable), and the speed layer's events
 * [batchPart, total) folded by the speed layer's ViewTable into one table (places: partition
 * 0, offset j; no two events of a user share a time, so places never decide). Every answer is
 * checked against the exact one; a lookup must make one binary search per table and scan no
 * row, the scan shape must scan every row of both tables.
 */
async function engineLookups(connection: DuckDBConnection, dataDir: string, time: number, truth: Truth, batchPart: number): Promise<{ problems: string[]; result: Record<string, unknown> }> {
  const view = compileView(parseViews([views.find((v) => v.name === 'entities')!])[0]!);
  const batch = await loadViewTable(connection, await versionFile(dataDir, 'entities'), view);
  const folding = new ViewTable(view);
  for (let j = batchPart; j < truth.total; j++) folding.add(order(j, time), { partition: 0, offset: j });
  const speed = freezeRows(view, folding.rows.values());
  const tables = [batch, speed];
  const engine = new QueryEngine({ cache: new QueryCache(256 * 2 ** 20), pause: () => undefined });
  const problems: string[] = [];
  /** `warm` requests (checked, not timed or counted), then `n`: the median, and the counters' growth over the `n`. */
  const run = async (what: string, warm: number, n: number, params: (i: number) => Record<string, string>, exact: (i: number) => Row[]) => {
    let before = { ...engine.stats };
    const times: number[] = [];
    for (let i = 0; i < warm + n; i++) {
      if (i === warm) before = { ...engine.stats };
      const q = parseViewQuery(view, params(i)).query;
      const t0 = performance.now();
      const answer = await engine.answer(view, tables, q);
      if (i >= warm) times.push(performance.now() - t0);
      if (problems.length < 20) problems.push(...compareRows(`in-process engine: ${what} ${JSON.stringify(params(i))}`, answer.rows, exact(i)));
    }
    return { requests: n, medianMs: round(median(times), 4), pointLookups: engine.stats.pointLookups - before.pointLookups, rowsScanned: engine.stats.rowsScanned - before.rowsScanned };
  };
  const n = 1_000;
  const one = await run('1-key lookup', 100, n, (i) => ({ 'where.key': `user-${LOOKUP_USERS[i % LOOKUPS]!}` }), (i) => truth.entityRows([LOOKUP_USERS[i % LOOKUPS]!]));
  const ten = await run('10-key lookup', 100, n, (i) => ({ 'where.key': keysOf(LOOKUP_SETS[i % LOOKUPS]!) }), (i) => truth.entityRows(LOOKUP_SETS[i % LOOKUPS]!));
  // Warm as the server's repeated scans are: the map of the speed table's groups into the batch table's is built once.
  const scan = await run('scan', 10, 15, () => ({ 'where_not.key': 'user-0', limit: '10' }), () => truth.entityPageWithout(0, 10));
  const rows = batch.length + speed.length;
  for (const [what, r] of [['1-key lookups', one], ['10-key lookups', ten]] as const) {
    if (r.pointLookups !== tables.length * r.requests) problems.push(`in-process engine: ${r.requests} ${what} made ${r.pointLookups} binary searches, not one per table (${tables.length * r.requests})`);
    if (r.rowsScanned !== 0) problems.push(`in-process engine: ${what} scanned ${r.rowsScanned} rows`);
  }
  if (scan.pointLookups !== 0 || scan.rowsScanned !== rows * scan.requests) problems.push(`in-process engine: the scan shape made ${scan.pointLookups} lookups and scanned ${scan.rowsScanned} rows, not ${rows * scan.requests}`);
  return {
    problems,
    result: {
      tableRows: { batch: batch.length, speed: speed.length },
      lookup1: { ...one, binarySearchesPerRequest: one.pointLookups / one.requests, rowsScannedPerRequest: one.rowsScanned / one.requests },
      lookup10: { ...ten, binarySearchesPerRequest: ten.pointLookups / ten.requests, rowsScannedPerRequest: ten.rowsScanned / ten.requests },
      scan: { ...scan, rowsScannedPerRequest: scan.rowsScanned / scan.requests },
    },
  };
}

// ---------------------------------------------------------------------------------------

function startBraid(dir: string): Promise<BenchBraid> {
  return startBenchBraid(dir, { batch: { schedule: 'off', fullSchedule: 'off' }, views, logging: { level: 'warn' }, ingest: { maxBatchEvents: 10_000 }, query: { threads: queryThreads } }, { NODE_OPTIONS: '--max-old-space-size=8192' }, args['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof-dir']}`] : []);
}

/** Thrown once the answers differ: nothing is measured. */
class Stop extends Error {}

const dir = await mkdtemp(path.join(tmpdir(), 'braid-bench-query-'));
const braid = await startBraid(dir);
const problems: string[] = [];
let rowsCompared = 0;
try {
  const total = 2 * groups;
  const time = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 60_000; // one hour bucket, not in the future
  const started = performance.now();
  const batchPart = Math.floor(total * 0.75);
  await load(braid.url, 0, batchPart, time);
  // The run's snapshot is the speed layer's position: caught up, it is every event sent.
  await caughtUp(braid.url);
  const run = await post(`${braid.url}/v1/batch/runs`, {}, 202);
  for (;;) {
    const info = await json(`${braid.url}/v1/batch/runs/${run.id}`);
    if (info.state === 'succeeded') break;
    if (info.state === 'failed') throw new Error(`batch run failed: ${info.error}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const batchTruth = new Truth(batchPart);
  await load(braid.url, batchPart, total, time);
  await caughtUp(braid.url);
  const status = await json(`${braid.url}/v1/status`);
  process.stderr.write(`loaded ${total} events in ${((performance.now() - started) / 1000).toFixed(1)} s; batch version ${status.batch.version}, speed groups ${status.speed.groups}\n`);

  // 1. Exact answers first: Lambda over everything, batch over the version.
  let truth = new Truth(total);
  problems.push(...(await checkShapes(braid.url, truth)), ...(await checkShapes(braid.url, batchTruth, 'batch')));
  const instance = await DuckDBInstance.create(':memory:');
  const duck = await instance.connect();
  await duck.run(`CREATE VIEW big AS SELECT * FROM read_parquet('${(await versionFile(path.join(dir, 'data'), 'big')).replaceAll("'", "''")}')`);
  for (const shape of SHAPES.filter((s) => s.peer)) problems.push(...compareRows(`DuckDB alone: ${shape.name}`, await duckRows(duck, shape), shape.exact(batchTruth), ranking(shape, batchTruth)));
  // The checked lookups merge batch + speed and meet late events; the engine, in this process
  // over the same tables, finds them by binary search (its counters), answering the same.
  const coverage = lookupCoverage(batchTruth, truth);
  if (coverage.withSpeedRows === 0 || coverage.lastArrivedNotNewest === 0 || coverage.newestInBatchLateInSpeed === 0) problems.push(`the checked lookups miss a case: ${JSON.stringify(coverage)}`);
  const engine = await engineLookups(duck, path.join(dir, 'data'), time, truth, batchPart);
  problems.push(...engine.problems);
  process.stderr.write(`lookups checked: ${JSON.stringify(coverage)}; in-process engine: ${JSON.stringify(engine.result)}\n`);
  if (problems.length > 0) throw new Stop();

  // 2. Alone.
  const perShape: Array<Record<string, unknown>> = [];
  for (const shape of SHAPES) {
    const row: Record<string, unknown> = { shape: shape.name, path: shape.path };
    row.lambdaAloneMs = await alone(braid.url, shape);
    row.batchAloneMs = await alone(braid.url, shape, '&source=batch');
    if (shape.varies) row.differentRequests = shape.varies.requests;
    if (shape.peer) row.duckdbAloneMs = await duckAlone(duck, shape);
    process.stderr.write(`${JSON.stringify(row)}\n`);
    perShape.push(row);
  }
  duck.closeSync();

  // 3. Ingest alone, then 4. the mix with the same ingest beside it.
  const next = { j: total };
  const ingestAlone = await steadyIngest(braid.url, time, next, duration);
  await caughtUp(braid.url);
  const [mixed, ingestDuring] = await Promise.all([mix(braid.url, duration), steadyIngest(braid.url, time, next, duration)]);
  for (const row of perShape) {
    const m = mixed.get(row.shape as string);
    if (!m) {
      row.inMix = false;
      continue;
    }
    const l = latencySummary(m.latencies);
    Object.assign(row, { mixP50Ms: l.p50, mixP99Ms: l.p99, mixMaxMs: l.max, mixResponses: m.latencies.length, mixNon200: m.non200, p99OverAlone: round(l.p99 / (row.lambdaAloneMs as number), 2) });
    if (m.non200 > 0) problems.push(`${row.shape as string}: ${m.non200} answers under the mix were not 200`);
  }
  if (ingestAlone.non202 + ingestDuring.non202 > 0) problems.push(`${ingestAlone.non202 + ingestDuring.non202} ingest batches were not acknowledged with 202`);

  // 5. Exact again, over every event acknowledged, and the verification.
  await caughtUp(braid.url);
  truth = new Truth(next.j);
  problems.push(...(await checkShapes(braid.url, truth)));
  const coverageAfterMix = lookupCoverage(batchTruth, truth);
  const v = await verify(braid.url);
  problems.push(...v.problems);
  rowsCompared = v.rowsCompared;

  const memory = Object.assign(
    {},
    ...Object.keys(MEMORY_VIEWS).map((view) => runPhaseProcess(fileURLToPath(import.meta.url), ['--phase', 'memory', '--view', view, '--groups', String(groups)], ['--expose-gc', '--max-old-space-size=8192'])),
  ) as Record<string, { heldBytesPerGroup: number }>;
  const peakRssMB = braid.peakRssMB();
  const ack = (acks: number[]): Latency => latencySummary(acks);
  const ackAlone = ack(ingestAlone.acks);
  const ackDuring = ack(ingestDuring.acks);
  const rollUp = perShape.find((r) => r.shape === SHAPES[0]!.name)!;
  const sketch = perShape.find((r) => r.shape === SHAPES[4]!.name)!;
  const ratios: Record<string, number> = {
    sketchOverCountSumRollUpAlone: round((sketch.lambdaAloneMs as number) / (rollUp.lambdaAloneMs as number), 2),
    ingestAckP99DuringOverAlone: round(ackDuring.p99 / ackAlone.p99, 2),
    worstP99OverAlone: Math.max(...perShape.filter((r) => r.p99OverAlone !== undefined).map((r) => r.p99OverAlone as number)),
  };
  for (const r of perShape.filter((r) => r.duckdbAloneMs !== undefined)) {
    r.batchOverDuckdb = round((r.batchAloneMs as number) / (r.duckdbAloneMs as number), 2);
    r.lambdaOverDuckdb = round((r.lambdaAloneMs as number) / (r.duckdbAloneMs as number), 2);
  }
  ratios.worstBatchOverDuckdb = Math.max(...perShape.filter((r) => r.batchOverDuckdb !== undefined).map((r) => r.batchOverDuckdb as number));
  const aloneOf = (name: string) => perShape.find((r) => r.shape === name)!.lambdaAloneMs as number;
  const inProcess = engine.result as { lookup1: { medianMs: number }; lookup10: { medianMs: number }; scan: { medianMs: number } };
  ratios.entityScanOverLookupAlone = round(aloneOf(ENTITY_SCAN) / aloneOf(LOOKUP_1), 2);
  ratios.entityScanOverLookupInProcess = round(inProcess.scan.medianMs / inProcess.lookup1.medianMs, 1);
  const lookups = {
    evidence:
      'over HTTP, the same entity view scanned (where_not one key, first 10 rows), alone, beside the lookups alone; and the same engine in the bench process over the same tables ' +
      "(the batch version's Parquet file, loaded as the server loads it, and the speed events folded by the speed layer's ViewTable): its EngineStats counters show one binary search per table " +
      'and no row scanned per lookup, every row scanned per scan (the server does not serve its counters)',
    checked: { ...coverage, perCheck: `${CHECKED_LOOKUPS} requests of each lookup shape, before and after the mix (Lambda) and over the version (source=batch)` },
    checkedAfterMix: coverageAfterMix,
    inProcessEngine: engine.result,
  };
  const result = {
    groups,
    events: next.j,
    connections,
    durationSeconds: duration,
    ingestRate,
    queryThreads,
    ingest: { alone: { ...ackAlone, batches: ingestAlone.acks.length }, duringMix: { ...ackDuring, batches: ingestDuring.acks.length } },
    perShape,
    lookups,
    memory,
    peakRssMB,
    ratios,
  };
  if (problems.length > 0) process.exitCode = 1;
  if (args.json) {
    emit({
      item: 4,
      title: 'Query serving at dashboard scale (Lambda answers, batch + speed merged)',
      size: `${groups.toLocaleString('en-US')} groups, ${connections} connections`,
      check: {
        same: problems.length === 0,
        what: `every shape equals the exact answer from the events (before and after the mix, over every event acknowledged; the first ${CHECKED_LOOKUPS} requests of each point lookup, the 1-key ones asking ${coverage.checked} users: ${coverage.withSpeedRows} merging batch + speed, ${coverage.lastArrivedNotNewest} whose last event to arrive is not the newest, ${coverage.newestInBatchLateInSpeed} of them with the newest in the batch version and a late one in the speed layer); source=batch and DuckDB alone equal the exact answer over the version; the engine in-process over the same tables finds lookups by one binary search per table, scanning no row; braid's verification matched ${rowsCompared} rows`,
        problems,
      },
      results: [
        ...perShape.flatMap((r): Measured[] => [
          r.inMix === false
            ? {
                // measured alone only, as DuckDB alone is: the median of 15 requests
                name: `braid alone, not in the mix: ${String(r.shape)}`,
                side: 'braid',
                latencyMs: { p50: r.lambdaAloneMs as number, p99: r.lambdaAloneMs as number, max: r.lambdaAloneMs as number },
                peakRssMB,
                extra: r,
              }
            : {
                name: `braid: ${String(r.shape)}`,
                side: 'braid',
                latencyMs: { p50: r.mixP50Ms as number, p99: r.mixP99Ms as number, max: r.mixMaxMs as number },
                peakRssMB,
                extra: r,
              },
          ...(r.duckdbAloneMs === undefined ? [] : [{ name: `DuckDB alone: ${String(r.shape)}`, side: 'peer' as const, latencyMs: { p50: r.duckdbAloneMs as number, p99: r.duckdbAloneMs as number, max: r.duckdbAloneMs as number } }]),
        ]),
        { name: 'braid: ingest acknowledgements alone', side: 'braid', latencyMs: ackAlone },
        { name: 'braid: ingest acknowledgements during the mix', side: 'braid', latencyMs: ackDuring },
      ],
      ratios,
      extra: { ...result, perShape: undefined },
    });
  } else {
    process.stdout.write(`${JSON.stringify({ node: process.version, problems, rowsCompared, ...result }, null, 2)}\n`);
  }
} catch (err) {
  if (!(err instanceof Stop)) throw err;
  process.exitCode = 1;
  process.stderr.write(`answers differ, nothing measured:\n${problems.join('\n')}\n`);
  if (args.json) emit({ item: 4, title: 'Query serving at dashboard scale', size: `${groups} groups`, check: { same: false, what: 'every shape equals the exact answer', problems }, results: [] });
} finally {
  await braid.stop();
  await rm(dir, { recursive: true, force: true });
}

