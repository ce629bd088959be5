import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { stringify } from 'yaml';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { startBraidProcess, type BraidProcess } from '../support/process.js';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../../bin/braid.js', import.meta.url));

const views = [
  { name: 'pages', events: ['page_view'], granularity: 'hour', dimensions: ['data.path', 'data.device'], measures: { views: 'count', visitors: { distinct: 'key' }, latency: { quantile: 'data.latency_ms', q: [0.5, 0.99] } } },
  { name: 'revenue', events: ['purchase'], granularity: 'day', dimensions: ['data.country'], measures: { orders: 'count', revenue: { sum: 'data.amount' }, basket: { avg: 'data.amount' }, biggest: { max: 'data.amount' } } },
];

async function json<T = any>(url: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    ...(init.body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(init.body) } : {}),
  });
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

/** Equal, with floats compared to 1e-9 relative: sums are added in another order by each engine. */
function expectSameAnswers(a: unknown, b: unknown, where = '$'): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), `${where}: ${a} vs ${b}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(a)));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(b as object).sort(), where).toEqual(Object.keys(a as object).sort());
    for (const k of Object.keys(a as object)) expectSameAnswers((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
    return;
  }
  expect(b, where).toEqual(a);
}

describe('Kappa replays and Kappa mode, on the braid process', () => {
  const procs: BraidProcess[] = [];
  let dir: string;
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('restarts a replay killed with SIGKILL to the same result, and serves the same answers in mode kappa', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'braid-kappa-'));
    const config = path.join(dir, 'braid.yaml');
    await writeFile(config, stringify({ dataDir: path.join(dir, 'data'), batch: { schedule: 'off', fullSchedule: 'off' }, verify: { schedule: 'off' }, archive: { flushIntervalMs: 100 }, views }));
    const start = async (env: Record<string, string> = {}) => {
      const p = await startBraidProcess(['--config', config], env);
      procs.push(p);
      return p;
    };

    // 1. A log big enough for a replay to take a while.
    let p = await start();
    const generator = new DemoGenerator({ seed: 11, users: 2_000 });
    const posts = [];
    for (let i = 0; i < 120; i++) posts.push(json(`${p.url}/v1/events`, { method: 'POST', body: generator.batch(1_000, Date.now()) }));
    for (const r of await Promise.all(posts)) expect(r.status).toBe(202);
    const P = (await json(`${p.url}/v1/status`)).body.log.end as Record<string, number>;

    // 2. A replay to P, killed with the process while it runs.
    const started = await json(`${p.url}/v1/replays`, { method: 'POST', body: { until: P } });
    expect(started.status).toBe(202);
    let info = started.body;
    while (info.state === 'running' && info.progress.records === 0) info = (await json(`${p.url}/v1/replays/${info.id}`)).body;
    expect(info.state).toBe('running');
    p.child.kill('SIGKILL');
    expect(await p.exited).toBe('SIGKILL');

    // 3. Started again after a restart, it completes: `braid replay` with a progress bar.
    p = await start();
    const replayed = await run(process.execPath, [bin, 'replay', '--url', p.url, '--until', JSON.stringify(P)]);
    expect(replayed.stderr).toMatch(new RegExp(`reached ${JSON.stringify(P).replace(/[{}]/g, '\\$&')}: 120000 records`));
    const kappa = Object.fromEntries(await Promise.all(views.map(async (v) => [v.name, (await json(`${p.url}/v1/views/${v.name}?source=kappa&limit=100000`)).body] as const)));
    for (const v of views) expect(kappa[v.name].position).toEqual(P);

    // 4. The Lambda answers, with a batch run in them, equal the replay's; `braid verify` agrees.
    expect((await run(process.execPath, [bin, 'batch', 'run', '--url', p.url])).stderr).toMatch(/published version 1/);
    const lambda = Object.fromEntries(await Promise.all(views.map(async (v) => [v.name, (await json(`${p.url}/v1/views/${v.name}?limit=100000`)).body] as const)));
    for (const v of views) {
      expect(lambda[v.name].position).toEqual(P);
      expect(lambda[v.name].rows.length).toBeGreaterThan(5);
      expectSameAnswers(lambda[v.name].rows, kappa[v.name].rows, v.name);
    }
    const verified = await run(process.execPath, [bin, 'verify', '--url', p.url]);
    expect(verified.stdout).toMatch(/Lambda equals Kappa/);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);

    // 5. The same log in mode kappa: no archive, no batch, the same answers.
    p = await start({ BRAID_MODE: 'kappa' });
    for (const v of views) {
      const answer = (await json(`${p.url}/v1/views/${v.name}?limit=100000`)).body;
      expect(answer.source).toBe('kappa');
      expect(answer.batch).toBeNull();
      expect(answer.position).toEqual(P);
      expectSameAnswers(lambda[v.name].rows, answer.rows, `kappa mode ${v.name}`);
    }
    expect((await json(`${p.url}/v1/views/pages?source=batch`)).status).toBe(400);
    const status = (await json(`${p.url}/v1/status`)).body;
    expect(status.archive).toBeNull();
    expect(status.batch).toBeNull();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });
});
