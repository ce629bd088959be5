import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import jsonata from 'jsonata';
import { stringify } from 'yaml';
import { dashboards } from '../../infra/grafana/src/generate.js';
import { infinityQueries, interpolatePromQL, interpolateUrl, promQueries, relativeMs, variableQueries } from '../../infra/grafana/src/inspect.js';
import { loadRules, RULES_FILE, type Rules } from '../../infra/prometheus/rules.js';
import { startBraidProcess, type BraidProcess } from '../support/process.js';

const braidYaml = fileURLToPath(new URL('../../braid.yaml', import.meta.url));
const SCRAPE = '1s';
/** what Grafana's $__rate_interval becomes here: a few scrapes */
const RATE_INTERVAL = '15s';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

async function postJson(url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await request(url, {
    method: 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

/** Polls `check` until it returns a value other than undefined, or throws with `what` after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(250);
  }
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * The acceptance test of the observability stack: a real Prometheus scrapes a real braid
 * (the demo config with demo traffic, a batch run, a Lambda-vs-Kappa verification), loads
 * the committed rules, and every PromQL expression of every dashboard panel and every
 * recording rule returns data through its HTTP API; every URL the analytics dashboard
 * calls answers the live API with the rows its panel expects.
 */
describe('braid scraped by a real Prometheus', () => {
  const dirs: string[] = [];
  let braid: BraidProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusOutput = '';
  let promUrl = '';
  let rules: Rules;
  const analytics = new AbortController();
  let analyticsLoop: Promise<void> = Promise.resolve();

  const query = async (expr: string): Promise<PromResult[]> => {
    const { status, body } = await getJson(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    if (status !== 200 || body.status !== 'success') throw new Error(`Prometheus rejected ${expr}: ${JSON.stringify(body)}`);
    return body.data.result as PromResult[];
  };

  /** Every URL of the analytics dashboard, as Grafana would call it now. */
  const analyticsCalls = () => {
    const d = dashboards()['analytics.json']!;
    const now = new Date();
    const range = relativeMs(d.time!.from);
    return infinityQueries(d).map((q) => ({
      ...q,
      url: braid!.url + interpolateUrl(q.url, new Date(now.getTime() - (q.timeFrom ? relativeMs(q.timeFrom) : range)), now),
    }));
  };

  beforeAll(async () => {
    rules = await loadRules();
    const dir = await mkdtemp(path.join(tmpdir(), 'braid-prometheus-'));
    dirs.push(dir);
    // Runs only when this test asks for them, so each exists once Prometheus is watching.
    braid = await startBraidProcess(['--config', braidYaml, '--data-dir', path.join(dir, 'braid'), '--demo', '--demo-rate', '100'], {
      BRAID_BATCH_SCHEDULE: 'off',
      BRAID_VERIFY_SCHEDULE: 'off',
    });
    const target = new URL(braid.url).host;

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    const config = path.join(dir, 'prometheus.yml');
    await writeFile(
      config,
      stringify({
        global: { scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
        rule_files: [RULES_FILE],
        scrape_configs: [{ job_name: 'braid', static_configs: [{ targets: [target] }] }],
      }),
    );
    prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prometheus.stdout!.on('data', (d: Buffer) => (prometheusOutput += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (prometheusOutput += d.toString()));
    const failed = new Promise<never>((_, reject) => {
      prometheus!.on('error', (err) => reject(new Error(`cannot run prometheus (${err.message}); .ci/run installs it: apt-get install prometheus`)));
      prometheus!.on('exit', (code) => reject(new Error(`prometheus exited with ${code}:\n${prometheusOutput}`)));
    });
    failed.catch(() => undefined);
    await Promise.race([
      failed,
      until('Prometheus to be ready', 30_000, async () => {
        const ok = await request(`${promUrl}/-/ready`).then(async (r) => (await r.body.text(), r.statusCode === 200), () => false);
        return ok || undefined;
      }),
    ]);
    await until('a first scrape of braid', 30_000, async () => ((await query('up{job="braid"} == 1')).length > 0 ? true : undefined));

    // Now make everything the dashboards show happen: a rejected request, a batch run, a
    // verification (with its replay), and queries through the analytics URLs all along.
    expect((await postJson(`${braid.url}/v1/events`, [{ id: 'x', type: 'not a type', time: Date.now() }])).status).toBe(400);
    const run = await postJson(`${braid.url}/v1/batch/runs`);
    expect(run.status).toBe(202);
    const finished = await until('the batch run', 60_000, async () => {
      const r = await getJson(`${braid!.url}/v1/batch/runs/${run.body.id}`);
      return r.body.finishedAt ? r.body : undefined;
    });
    expect(finished.state).toBe('succeeded');
    const verification = await postJson(`${braid.url}/v1/verification`);
    expect(verification.status).toBe(202);
    const verified = await until('the verification', 60_000, async () => {
      const r = await getJson(`${braid!.url}/v1/verification/${verification.body.id}`);
      return r.body.state !== 'running' ? r.body : undefined;
    });
    expect(verified).toMatchObject({ state: 'succeeded', ok: true });
    analyticsLoop = (async () => {
      for (let i = 0; i < 400 && !analytics.signal.aborted; i++) {
        await Promise.all(analyticsCalls().map((c) => request(c.url).then((r) => r.body.dump(), () => undefined)));
        await sleep(500);
      }
    })();
  }, 180_000);

  afterAll(async () => {
    analytics.abort();
    await analyticsLoop;
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
    if (braid && braid.child.exitCode === null) {
      braid.child.kill('SIGTERM');
      await Promise.race([braid.exited, sleep(10_000)]);
      if (braid.child.exitCode === null) braid.child.kill('SIGKILL');
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  /**
   * Waits until each expression returns at least one sample with a number (not NaN), and
   * returns the ones that never did, with what they returned.
   */
  async function withoutData(exprs: ReadonlyArray<{ name: string; expr: string }>): Promise<string[]> {
    const pending = new Map(exprs.map((e) => [e.name, e]));
    const last = new Map<string, string>();
    const deadline = Date.now() + 90_000;
    while (pending.size > 0 && Date.now() < deadline) {
      for (const [name, { expr }] of pending) {
        const result = await query(expr);
        last.set(name, JSON.stringify(result).slice(0, 200));
        if (result.some((r) => !Number.isNaN(Number(r.value[1])))) pending.delete(name);
      }
      if (pending.size > 0) await sleep(1_000);
    }
    return [...pending.values()].map((e) => `${e.name}: ${e.expr} → ${last.get(e.name)}`);
  }

  it('answers every PromQL expression of every dashboard panel with data', async () => {
    const exprs = Object.entries(dashboards()).flatMap(([file, d]) => [
      ...promQueries(d).map((q) => ({ name: `${file} "${q.panel}" ${q.refId}`, expr: interpolatePromQL(q.expr, RATE_INTERVAL) })),
      // label_values(metric, label): the variable's values come from that metric
      ...variableQueries(d).map((v) => ({ name: `${file} variable ${v}`, expr: v.replace(/^label_values\((\w+),\s*\w+\)$/, '$1') })),
    ]);
    expect(exprs.length).toBeGreaterThan(40);
    expect(await withoutData(exprs)).toEqual([]);
  }, 150_000);

  it('evaluates every recording rule to data, and Prometheus records it', async () => {
    expect(rules.recording.length).toBeGreaterThan(3);
    const exprs = rules.recording.flatMap((r) => [
      { name: `${r.record} (expression)`, expr: r.expr },
      { name: `${r.record} (recorded)`, expr: r.record },
    ]);
    expect(await withoutData(exprs)).toEqual([]);
    const loaded = await getJson(`${promUrl}/api/v1/rules`);
    const health = (loaded.body.data.groups as Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }>).flatMap((g) => g.rules);
    expect(health.length).toBe(rules.recording.length + rules.alerting.length);
    expect(health.filter((r) => r.health !== 'ok')).toEqual([]);
  }, 150_000);

  it('keeps every alert silent on a healthy braid', async () => {
    const alerts = await getJson(`${promUrl}/api/v1/alerts`);
    expect(alerts.body.data.alerts).toEqual([]);
  });

  it('answers every URL of the analytics dashboard with the rows and columns its panel expects', async () => {
    const calls = analyticsCalls();
    expect(calls.length).toBeGreaterThan(8);
    const problems: string[] = [];
    for (const call of calls) {
      const name = `"${call.panel}" ${call.refId} ${call.url}`;
      // The demo traffic fills every view within seconds; wait for rows where there are none yet.
      const rows = await until(`rows for ${name}`, 30_000, async () => {
        const res = await getJson(call.url);
        if (res.status !== 200) {
          problems.push(`${name}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
          return [];
        }
        const out = (await jsonata(call.rootSelector).evaluate(res.body)) as unknown;
        if (!Array.isArray(out)) {
          problems.push(`${name}: the root selector gives ${JSON.stringify(out)?.slice(0, 100)}, not rows`);
          return [];
        }
        return out.length > 0 ? (out as Array<Record<string, unknown>>) : undefined;
      });
      for (const column of call.columns) {
        const values = rows.map((r) => r[column.selector]).filter((v) => v !== undefined && v !== null);
        if (values.length === 0) problems.push(`${name}: column "${column.selector}" is empty in all ${rows.length} rows`);
        for (const v of values) {
          const ok =
            column.type === 'number' ? typeof v === 'number' : column.type === 'string' ? typeof v === 'string' : typeof v === 'string' && !Number.isNaN(Date.parse(v));
          if (!ok) {
            problems.push(`${name}: column "${column.selector}" should be a ${column.type}, got ${JSON.stringify(v)}`);
            break;
          }
        }
      }
    }
    expect(problems).toEqual([]);
  }, 120_000);
});
