/**
 * Lambda query latency under concurrent load:
 *
 *   node --import tsx bench/query.ts [--groups 100000] [--connections 16] [--duration 10]
 *
 * Starts a real `braid start` process (embedded log, in a temp directory) with two views of
 * about `groups` groups each (one hour bucket × country × user): `big` with count, sum, avg
 * and max; `big_sketches` with a distinct count and quantiles too. 75 % of the events go
 * into a batch version, the rest stay in the speed layer, so every Lambda answer merges
 * both. For each query shape: the median of 5 requests alone (the work of one answer), then
 * autocannon with `connections` concurrent connections for `duration` seconds: latency
 * p50/p99 and requests/s. The server answers on one thread, so under load a request waits
 * for the ones queued before it; a shape whose single answer takes over a second is not
 * load-tested.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startBenchBraid, type BenchBraid } from './processes.js';
import { emit, type Measured } from './report.js';
import autocannon from 'autocannon';
import { request } from 'undici';

const { values: args } = parseArgs({
  options: {
    groups: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
});
const groups = Number(args.groups);
const connections = Number(args.connections);
const duration = Number(args.duration);
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'JP', 'BR', 'IN', 'ES', 'NL', 'IT'];
const ONE_USER = Math.floor(groups * 0.4242); // some user, whatever the size

/** Event j of the load: user j mod groups, so every user has the same number of orders. */
function order(j: number, time: number) {
  const user = j % groups;
  return { id: `order-${j}`, type: 'purchase', time, key: `user-${user}`, data: { country: COUNTRIES[user % COUNTRIES.length]!, amount: 1 + (j % 25_000) / 100 } };
}

const common = { events: ['purchase'], granularity: 'hour', dimensions: ['data.country', 'key'] };
const views = [
  { name: 'big', ...common, measures: { orders: 'count', revenue: { sum: 'data.amount' }, basket: { avg: 'data.amount' }, biggest: { max: 'data.amount' } } },
  {
    name: 'big_sketches',
    ...common,
    measures: { orders: 'count', revenue: { sum: 'data.amount' }, buyers: { distinct: 'id' }, amount_q: { quantile: 'data.amount', q: [0.5, 0.95, 0.99] } },
  },
];

const QUERIES: Array<[string, string]> = [
  ['roll-up of every group to 10 rows', '/v1/views/big?granularity=day&group_by=data.country'],
  ['one country, 100 rows', '/v1/views/big?where.data.country=DE&limit=100'],
  ['one user', `/v1/views/big?where.key=user-${ONE_USER}`],
  ['a page of 1 000 rows', '/v1/views/big?limit=1000'],
  ['roll-up with sketches (distinct, quantiles)', '/v1/views/big_sketches?granularity=day&group_by=data.country'],
  ['one country with sketches, 100 rows', '/v1/views/big_sketches?where.data.country=DE&limit=100'],
];

function startBraid(dir: string): Promise<BenchBraid> {
  return startBenchBraid(dir, { batch: { schedule: 'off' }, views, logging: { level: 'warn' }, ingest: { maxBatchEvents: 10_000 } }, { NODE_OPTIONS: '--max-old-space-size=8192' });
}

async function post(url: string, body: unknown, expected: number): Promise<any> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.body.text();
  if (res.statusCode !== expected) throw new Error(`${url}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

async function ingest(url: string, from: number, to: number, time: number): Promise<void> {
  for (let i = from; i < to; i += 10_000) {
    const events = [];
    for (let j = i; j < Math.min(to, i + 10_000); j++) events.push(order(j, time));
    await post(`${url}/v1/events`, events, 202);
  }
}

/** Waits until the server answers a probe at once: requests a previous load left queued are done. */
async function idle(url: string): Promise<void> {
  for (;;) {
    const t0 = performance.now();
    await (await request(`${url}/healthz`)).body.dump();
    if (performance.now() - t0 < 20) return;
  }
}

async function json(url: string): Promise<any> {
  const res = await request(url);
  return res.body.json();
}

interface Totals {
  orders: number;
  revenue: number;
}

/** The exact answers of the checked queries, from the events themselves. */
function truth(total: number, time: number): { byCountry: Map<string, Totals>; oneUser: Totals } {
  const byCountry = new Map<string, Totals>();
  const oneUser = { orders: 0, revenue: 0 };
  for (let j = 0; j < total; j++) {
    const e = order(j, time);
    const t = byCountry.get(e.data.country) ?? { orders: 0, revenue: 0 };
    byCountry.set(e.data.country, t);
    t.orders++;
    t.revenue += e.data.amount;
    if (e.key === `user-${ONE_USER}`) {
      oneUser.orders++;
      oneUser.revenue += e.data.amount;
    }
  }
  return { byCountry, oneUser };
}

const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y), 1);

/**
 * Checks the served Lambda answers (batch + speed merged) against the exact ones, and asks
 * braid's own verification (a Kappa replay of the whole log) whether every view agrees.
 */
async function checkAnswers(url: string, total: number, time: number): Promise<{ problems: string[]; rowsCompared: number }> {
  const problems: string[] = [];
  const exact = truth(total, time);
  const rollUp = (await json(`${url}/v1/views/big_sketches?granularity=day&group_by=data.country`)) as { rows: Array<{ 'data.country': string; orders: number; revenue: number }> };
  const seen = new Set<string>();
  for (const row of rollUp.rows) {
    const country = row['data.country'];
    seen.add(country);
    const t = exact.byCountry.get(country);
    if (!t) problems.push(`roll-up: country ${country} is not in the events`);
    else if (row.orders !== t.orders || !close(row.revenue, t.revenue)) problems.push(`roll-up ${country}: ${row.orders} orders, revenue ${row.revenue}; exact ${t.orders}, ${t.revenue}`);
  }
  for (const country of exact.byCountry.keys()) if (!seen.has(country)) problems.push(`roll-up: country ${country} is missing`);
  const user = (await json(`${url}/v1/views/big?where.key=user-${ONE_USER}&granularity=day&group_by=key`)) as { rows: Array<{ orders: number; revenue: number }> };
  const u = user.rows[0];
  if (!u || user.rows.length !== 1 || u.orders !== exact.oneUser.orders || !close(u.revenue, exact.oneUser.revenue)) {
    problems.push(`user-${ONE_USER}: ${JSON.stringify(user.rows)}; exact ${JSON.stringify(exact.oneUser)}`);
  }
  const started = await post(`${url}/v1/verification`, {}, 202);
  let v: { state: string; ok?: boolean; rowsCompared?: number; mismatchingRows?: number; error?: string };
  for (;;) {
    v = await json(`${url}/v1/verification/${started.id}`);
    if (v.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (v.state !== 'succeeded' || !v.ok) problems.push(`verification (Lambda vs a Kappa replay): ${v.state}, ${v.mismatchingRows ?? '?'} rows differ ${v.error ?? ''}`);
  return { problems, rowsCompared: v.rowsCompared ?? 0 };
}

async function measure(url: string, name: string, query: string): Promise<Record<string, unknown>> {
  await idle(url);
  // Alone first: the work of one answer, with nothing queued before it.
  const alone: number[] = [];
  let rows = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const res = await request(`${url}${query}`);
    rows = ((await res.body.json()) as { rows: unknown[] }).rows.length;
    alone.push(performance.now() - t0);
  }
  alone.sort((a, b) => a - b);
  const row: Record<string, unknown> = { query: name, path: query, rows, aloneMedianMs: Math.round(alone[2]!) };
  if (alone[2]! > 1_000) {
    row.underLoad = `skipped: one answer takes ${(alone[2]! / 1000).toFixed(1)} s of the server's only thread`;
  } else {
    const result = await autocannon({ url: `${url}${query}`, connections, duration, timeout: 60 });
    Object.assign(row, {
      p50ms: result.latency.p50,
      p99ms: result.latency.p99,
      maxMs: result.latency.max,
      requestsPerSecond: Math.round(result.requests.average * 10) / 10,
      responses: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    });
  }
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

const dir = await mkdtemp(path.join(tmpdir(), 'braid-bench-query-'));
const braid = await startBraid(dir);
try {
  const total = 2 * groups;
  const time = Math.floor(Date.now() / 3_600_000) * 3_600_000 + 60_000; // one hour bucket, not in the future
  const started = performance.now();
  await ingest(braid.url, 0, Math.floor(total * 0.75), time);
  const run = await post(`${braid.url}/v1/batch/runs`, {}, 202);
  for (;;) {
    const info = await json(`${braid.url}/v1/batch/runs/${run.id}`);
    if (info.state === 'succeeded') break;
    if (info.state === 'failed') throw new Error(`batch run failed: ${info.error}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await ingest(braid.url, Math.floor(total * 0.75), total, time);
  for (;;) {
    const status = await json(`${braid.url}/v1/status`);
    if (Object.values(status.speed.lag as Record<string, number>).every((n) => n === 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const status = await json(`${braid.url}/v1/status`);
  process.stderr.write(`loaded ${total} events in ${((performance.now() - started) / 1000).toFixed(1)} s; batch version ${status.batch.version} at ${JSON.stringify(status.batch.snapshot)}, speed groups ${status.speed.groups}\n`);

  const check = await checkAnswers(braid.url, total, time);
  if (check.problems.length > 0) process.exitCode = 1;
  const results: Record<string, unknown>[] = [];
  // A wrong answer is not measured.
  if (check.problems.length === 0) for (const [name, query] of QUERIES) results.push(await measure(braid.url, name, query));
  const peakRssMB = braid.peakRssMB();
  if (args.json) {
    emit({
      item: 4,
      title: 'Query serving, Lambda answers (batch + speed merged)',
      size: `${groups.toLocaleString('en-US')} groups, ${connections} connections`,
      check: {
        same: check.problems.length === 0,
        what: `the served roll-up per country and one user's row equal the exact answer from the events; braid's verification (a Kappa replay of the whole log) matched ${check.rowsCompared} rows`,
        problems: check.problems,
      },
      results: results.map(
        (r): Measured => ({
          name: `${String(r.query)} (${String(r.rows)} rows)`,
          side: 'braid',
          ...(r.p50ms === undefined ? {} : { requestsPerSecond: Number(r.requestsPerSecond), latencyMs: { p50: Number(r.p50ms), p99: Number(r.p99ms), max: Number(r.maxMs) } }),
          peakRssMB,
          extra: r,
        }),
      ),
      extra: { events: total, batchShare: 0.75, durationSeconds: duration },
    });
  } else {
    process.stdout.write(`${JSON.stringify({ groups, events: total, connections, durationSeconds: duration, node: process.version, peakRssMB, check, results }, null, 2)}\n`);
  }
} finally {
  await braid.stop();
  await rm(dir, { recursive: true, force: true });
}
