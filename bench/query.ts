/**
 * Serving at dashboard scale:
 *
 *   node --import tsx bench/query.ts [--groups 100000] [--connections 16] [--duration 10] [--ingest-rate 5000] [--json]
 *
 * Starts a real `braid start` (embedded log, a temp directory) with two views of `groups`
 * groups (one hour bucket × country × user): `big` (count, sum, min, max) and
 * `big_sketches` (count, sum, distinct, quantiles). Two events per user: 75 % of them go
 * into a batch version, the rest stay in the speed layer, so every Lambda answer merges both.
 *
 * 1. Every shape is checked against the exact answer, computed here from the events with
 *    the measures' own monoids (no storage, no merge, no serving code): a wrong answer
 *    stops the bench before any rate is reported.
 * 2. Alone: the median of 15 requests of each shape, one at a time, for Lambda answers and
 *    for `source=batch`, and DuckDB alone (in this process, warm) answering the count/sum/
 *    min/max shapes over the batch version's own Parquet file — the same data as
 *    `source=batch`, whose answers are compared with DuckDB's row for row first.
 * 3. Ingest alone: `ingest-rate` events/s in batches of 50 for `duration` s — the
 *    acknowledgement latency p50/p99 of POST /v1/events.
 * 4. The mix: `connections` connections, each cycling through the shapes, for `duration`
 *    s, while the same ingest runs beside it: p50/p99 per shape and of the acknowledgements.
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
import { distinct } from '../shared/measures/kinds/distinct.js';
import { quantile } from '../shared/measures/kinds/quantile.js';
import { startBenchBraid, runPhaseProcess, type BenchBraid } from './processes.js';
import { emit, latencySummary, round, type Latency, type Measured } from './report.js';
import { MEMORY_VIEWS, phaseMemory } from './query-memory.js';

const { values: args } = parseArgs({
  options: {
    groups: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    'ingest-rate': { type: 'string', default: '5000' },
    phase: { type: 'string' },
    view: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const groups = Number(args.groups);
const connections = Number(args.connections);
const duration = Number(args.duration);
const ingestRate = Number(args['ingest-rate']);

if (args.phase === 'memory') {
  process.stdout.write(`${JSON.stringify(await phaseMemory(groups, args.view as keyof typeof MEMORY_VIEWS))}\n`);
  process.exit(0);
}

const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ES', 'NL', 'IT'];
const ONE_USER = Math.floor(groups * 0.4242); // some user, whatever the size
const QUANTILES = [0.5, 0.95, 0.99];
const quantileMeasure = quantile(QUANTILES);

const userOf = (j: number) => j % groups;
const countryOf = (user: number) => COUNTRIES[user % COUNTRIES.length]!;
const amountOf = (j: number) => 1 + (j % 25_000) / 100;
/** Event j of the load: user j mod groups, so every user has the same number of orders. */
function order(j: number, time: number) {
  const user = userOf(j);
  return { id: `order-${j}`, type: 'purchase', time, key: `user-${user}`, data: { country: countryOf(user), amount: amountOf(j) } };
}

const common = { events: ['purchase'], granularity: 'hour', dimensions: ['data.country', 'key'] };
const views = [
  { name: 'big', ...common, measures: { orders: 'count', revenue: { sum: 'data.amount' }, smallest: { min: 'data.amount' }, biggest: { max: 'data.amount' } } },
  {
    name: 'big_sketches',
    ...common,
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'id' }, amount_q: { quantile: 'data.amount', q: QUANTILES } },
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
  #sortedUsers: Int32Array | undefined;

  constructor(readonly total: number) {
    for (let j = 0; j < total; j++) {
      const u = userOf(j);
      const a = amountOf(j);
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

interface Shape {
  readonly name: string;
  readonly path: string;
  /** the exact rows, in order */
  exact(t: Truth): Row[];
  /** the same shape in SQL over the batch version's Parquet of `big`, for DuckDB alone */
  readonly sql?: string;
  readonly params?: Record<string, string>;
  /** a count/sum/min/max shape: compared with DuckDB alone */
  readonly peer: boolean;
  /** a top-N by this float measure: see compareRows */
  readonly rankedBy?: string;
}

const M = 'sum(orders) AS orders, sum(revenue) AS revenue, min(smallest) AS smallest, max(biggest) AS biggest';
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
    const answer = (await json(`${url}${shape.path}${source ? `&source=${source}` : ''}`)) as { rows: Row[] };
    problems.push(...compareRows(`${shape.name}${source ? ` (source=${source})` : ''}`, answer.rows, shape.exact(truth), ranking(shape, truth)));
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

/** The median of `n` requests one at a time, ms (with the rows of the last). */
async function alone(url: string, n = 15): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
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
  const out = new Map(SHAPES.map((s) => [s.name, { latencies: [] as number[], non200: 0 }]));
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = c; performance.now() < end; i++) {
        const shape = SHAPES[i % SHAPES.length]!;
        const t0 = performance.now();
        const o = out.get(shape.name)!;
        try {
          const res = await pool.request({ path: shape.path, method: 'GET' });
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

function startBraid(dir: string): Promise<BenchBraid> {
  return startBenchBraid(dir, { batch: { schedule: 'off', fullSchedule: 'off' }, views, logging: { level: 'warn' }, ingest: { maxBatchEvents: 10_000 } }, { NODE_OPTIONS: '--max-old-space-size=8192' });
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
  if (problems.length > 0) throw new Stop();

  // 2. Alone.
  const perShape: Array<Record<string, unknown>> = [];
  for (const shape of SHAPES) {
    const row: Record<string, unknown> = { shape: shape.name, path: shape.path };
    row.lambdaAloneMs = await alone(`${braid.url}${shape.path}`);
    row.batchAloneMs = await alone(`${braid.url}${shape.path}&source=batch`);
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
    const m = mixed.get(row.shape as string)!;
    const l = latencySummary(m.latencies);
    Object.assign(row, { mixP50Ms: l.p50, mixP99Ms: l.p99, mixMaxMs: l.max, mixResponses: m.latencies.length, mixNon200: m.non200, p99OverAlone: round(l.p99 / (row.lambdaAloneMs as number), 2) });
    if (m.non200 > 0) problems.push(`${row.shape as string}: ${m.non200} answers under the mix were not 200`);
  }
  if (ingestAlone.non202 + ingestDuring.non202 > 0) problems.push(`${ingestAlone.non202 + ingestDuring.non202} ingest batches were not acknowledged with 202`);

  // 5. Exact again, over every event acknowledged, and the verification.
  await caughtUp(braid.url);
  truth = new Truth(next.j);
  problems.push(...(await checkShapes(braid.url, truth)));
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
    worstP99OverAlone: Math.max(...perShape.map((r) => r.p99OverAlone as number)),
  };
  for (const r of perShape.filter((r) => r.duckdbAloneMs !== undefined)) {
    r.batchOverDuckdb = round((r.batchAloneMs as number) / (r.duckdbAloneMs as number), 2);
    r.lambdaOverDuckdb = round((r.lambdaAloneMs as number) / (r.duckdbAloneMs as number), 2);
  }
  ratios.worstBatchOverDuckdb = Math.max(...perShape.filter((r) => r.batchOverDuckdb !== undefined).map((r) => r.batchOverDuckdb as number));
  const result = {
    groups,
    events: next.j,
    connections,
    durationSeconds: duration,
    ingestRate,
    ingest: { alone: { ...ackAlone, batches: ingestAlone.acks.length }, duringMix: { ...ackDuring, batches: ingestDuring.acks.length } },
    perShape,
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
        what: `every shape equals the exact answer from the events (before and after the mix, over every event acknowledged); source=batch and DuckDB alone equal the exact answer over the version; braid's verification matched ${rowsCompared} rows`,
        problems,
      },
      results: [
        ...perShape.flatMap((r): Measured[] => [
          {
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

