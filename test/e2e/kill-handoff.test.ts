/**
 * Issue 4's crash acceptance: the whole braid process is killed with SIGKILL during ingest,
 * during a batch run and during the hand-off; after each restart the merged (Lambda)
 * answers equal the reference computed from the log below their position, and every event
 * acknowledged with 202 is counted exactly once.
 *
 * Clients behave like real ones: a request that got no answer (the process died under it)
 * is sent again, unchanged, to the next process — so the log holds retries, which the
 * dedupe rule must drop. Answers are sampled while each process lives, just before it is
 * killed among them, and all are checked at the end against the log read directly (the
 * process holds the log's lock while it runs).
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { RawEvent } from '../../shared/demo/generator.js';
import { decodeEvent } from '../../shared/events/index.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import type { Position } from '../../shared/log/types.js';
import { expectAnswerMatches } from '../support/interleaving-harness.js';
import { shopProfile, TestEvents } from '../support/events.js';
import { Rng } from '../support/interleaving-schedule.js';
import { salesView } from '../support/views.js';
import { startBraidProcess, type BraidProcess } from '../support/process.js';
import { survivors, type RefRecord, type RefView } from '../support/reference.js';

const PARTITIONS = 2;
const WINDOW_MS = 86_400_000; // dedupe.window 24h: every retry in these tests is a duplicate
const ALL = ['purchase', 'page_view', 'signup'];

const views = [
  // one row per id and day: the exactly-once check
  { name: 'by_id', events: ALL, granularity: 'day', dimensions: ['id'], measures: { n: 'count' } },
  // a count grouped by nothing
  { name: 'totals', events: ALL, granularity: 'day', dimensions: [], measures: { events: 'count', keys: { distinct: 'key' } } },
  salesView,
] as const satisfies readonly RefView[];

/** The queries sampled: every view as declared, and rolled up. */
const QUERIES: ReadonlyArray<{ view: RefView; params: string; groupBy: readonly string[]; granularity?: 'hour' | 'day' }> = [
  { view: views[0], params: 'limit=100000', groupBy: ['id'] },
  { view: views[1], params: '', groupBy: [] },
  { view: views[2], params: '', groupBy: ['data.country', 'data.channel'] },
  { view: views[2], params: 'granularity=day&group_by=data.country', groupBy: ['data.country'], granularity: 'day' },
];

interface Sample {
  readonly label: string;
  readonly view: RefView;
  readonly groupBy: readonly string[];
  readonly granularity: 'hour' | 'day' | undefined;
  readonly position: Position;
  readonly batch: { version: number; snapshot: Position } | null;
  readonly rows: Record<string, unknown>[];
}

const dirs: string[] = [];
const procs: BraidProcess[] = [];
let current: Clients | undefined;
afterEach(async () => {
  current?.stop();
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await request(url);
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

/**
 * Ingest clients shared by every process of a test: each posts batches of new events and
 * resends, unchanged, every batch whose request got no answer or a 503.
 */
class Clients {
  url: string | undefined;
  readonly acknowledged = new Set<string>();
  readonly #unanswered: RawEvent[][] = [];
  readonly #events: TestEvents;
  readonly #rng: Rng;
  readonly #answered: RawEvent[][] = [];
  #running = true;
  #loops: Promise<void>[] = [];
  #error: Error | undefined;

  constructor(seed: number) {
    this.#rng = new Rng(seed);
    this.#events = new TestEvents(this.#rng.int(0, 2 ** 31 - 1), { profile: shopProfile, prefix: `k${seed}` });
  }

  start(n: number): void {
    this.#loops = Array.from({ length: n }, () => this.#loop());
  }

  async #loop(): Promise<void> {
    let resentOnce = false;
    while (this.#running) {
      const url = this.url;
      if (!url) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      // Clients also resend answered batches (a timeout on their side): retries the log must
      // hold and dedupe must drop. Each client resends an answered batch once as soon as there
      // is one, so every run has some, and then one in twenty at random.
      const resend = this.#answered.length > 0 && (!resentOnce || this.#rng.chance(0.05));
      if (resend) resentOnce = true;
      const batch =
        this.#unanswered.shift() ?? (resend ? this.#rng.pick(this.#answered) : Array.from({ length: 10 }, () => this.#events.next(Date.now())));
      let status = 0;
      try {
        const res = await request(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
        status = res.statusCode;
        await res.body.dump();
      } catch {
        // no answer: the process is gone (or going)
      }
      if (status === 202) {
        for (const e of batch) this.acknowledged.add(e.id);
        this.#answered.push(batch);
      } else if (status === 0 || status === 503) {
        this.#unanswered.push(batch);
      } else {
        this.#error ??= new Error(`ingest answered ${status}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 100)); // about 400 events a second from four clients
    }
  }

  /** Stops posting new batches once every unanswered one has been acknowledged. */
  async drain(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    if (this.#error) throw this.#error;
    while (this.#unanswered.length > 0) {
      const batch = this.#unanswered.shift()!;
      const res = await request(`${this.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch) });
      await res.body.dump();
      expect(res.statusCode, 'a resent batch after the last restart').toBe(202);
      for (const e of batch) this.acknowledged.add(e.id);
    }
  }

  stop(): void {
    this.#running = false;
  }
}

interface RunInfo {
  id: string;
  state: string;
  error?: string;
  snapshot?: Position;
}

describe('the braid process killed with SIGKILL', () => {
  let dir: string;
  let configFile: string;
  let clients: Clients;
  let samples: Sample[];
  let seed: number;

  async function setUp(): Promise<void> {
    seed = Number(process.env.SEED ?? randomInt(2 ** 31));
    dir = await mkdtemp(path.join(tmpdir(), 'braid-kill-handoff-'));
    dirs.push(dir);
    configFile = path.join(dir, 'braid.yaml');
    // JSON is YAML.
    await writeFile(
      configFile,
      JSON.stringify({
        log: { partitions: PARTITIONS },
        dedupe: { window: '24h' },
        batch: { schedule: 'off', fullSchedule: 'off' },
        archive: { flushIntervalMs: 50, compactMinFiles: 4 },
        views,
        logging: { level: 'warn' },
      }),
    );
    clients = new Clients(seed);
    current = clients;
    samples = [];
  }

  async function start(): Promise<BraidProcess> {
    // The embedded log of PARTITIONS partitions, which the test reads afterwards, even when the tests run with BRAID_KAFKA_BROKERS set.
    const p = await startBraidProcess(['--config', configFile, '--data-dir', path.join(dir, 'data')], {
      BRAID_KAFKA_BROKERS: '',
      BRAID_LOG_KAFKA_BROKERS: '',
      BRAID_PARTITIONS: '',
      BRAID_LOG_PARTITIONS: '',
    });
    procs.push(p);
    const ready = await request(`${p.url}/readyz`);
    await ready.body.dump();
    expect(ready.statusCode, p.output()).toBe(200);
    clients.url = p.url;
    return p;
  }

  async function sample(p: BraidProcess, label: string): Promise<void> {
    for (const q of QUERIES) {
      for (const source of ['lambda', 'batch']) {
        const sep = q.params ? '&' : '';
        const { status, body } = await getJson<Omit<Sample, 'label' | 'view' | 'groupBy' | 'granularity'> & { error?: string }>(
          `${p.url}/v1/views/${q.view.name}?${q.params}${sep}source=${source}`,
        );
        if (source === 'batch' && status === 503) continue; // no version yet
        expect(status, `SEED=${seed} ${label}: ${JSON.stringify(body)}`).toBe(200);
        samples.push({ label: `${label} ${source} ${q.view.name}?${q.params}`, view: q.view, groupBy: q.groupBy, granularity: q.granularity, position: body.position, batch: body.batch, rows: body.rows });
      }
    }
  }

  async function startRun(p: BraidProcess): Promise<string> {
    const res = await request(`${p.url}/v1/batch/runs`, { method: 'POST' });
    const body = (await res.body.json()) as RunInfo;
    expect(res.statusCode, JSON.stringify(body)).toBe(202);
    return body.id;
  }

  async function runState(p: BraidProcess, id: string): Promise<RunInfo> {
    return (await getJson<RunInfo>(`${p.url}/v1/batch/runs/${id}`)).body;
  }

  async function runToEnd(p: BraidProcess): Promise<RunInfo> {
    const id = await startRun(p);
    for (;;) {
      const info = await runState(p, id);
      if (info.state === 'succeeded' || info.state === 'failed') return info;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  const RUN_ORDER = ['waiting_for_archive', 'computing', 'publishing', 'succeeded', 'failed'];

  /** Polls the run until it has reached `state` (or a later one), then kills the process at once; returns the state seen. */
  async function killWhenRunIs(p: BraidProcess, id: string, state: string): Promise<string> {
    for (;;) {
      const info = await runState(p, id);
      if (RUN_ORDER.indexOf(info.state) >= RUN_ORDER.indexOf(state)) {
        p.child.kill('SIGKILL');
        expect(await p.exited).toBe('SIGKILL');
        return info.state;
      }
    }
  }

  async function kill(p: BraidProcess): Promise<void> {
    p.child.kill('SIGKILL');
    expect(await p.exited).toBe('SIGKILL');
  }

  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /**
   * The last process: resends what went unanswered, lets the speed layer reach the log's
   * end, samples, runs one more hand-off, samples again; then stops cleanly, and every
   * sample of the test is compared with the reference from the log.
   */
  async function finish(): Promise<void> {
    const p = await start();
    await pause(200);
    await sample(p, 'after the last restart, during ingest');
    await clients.drain();
    let status: { log: { end: Position }; speed: { position: Position; lag: Record<string, number> } };
    do {
      status = (await getJson<typeof status>(`${p.url}/v1/status`)).body;
    } while (Object.values(status.speed.lag).some((n) => n > 0));
    const first = samples.length;
    await sample(p, 'after the last restart, caught up');
    const finalLambda = samples[first]!; // by_id, lambda, at the log's end
    expect(finalLambda.label).toMatch(/caught up lambda by_id/);
    const run = await runToEnd(p);
    expect(run.state, run.error).toBe('succeeded');
    await sample(p, 'after the last restart, after a hand-off');
    p.child.kill('SIGTERM');
    expect(await p.exited, p.output()).toBe(0);

    const records = await readLog();
    const end: Position = {};
    for (const r of records) end[r.partition] = Math.max(end[r.partition] ?? 0, r.offset + 1);
    const memo = new Map<string, RefRecord[]>();
    const below = (position: Position) => {
      const key = JSON.stringify(position);
      if (!memo.has(key)) memo.set(key, survivors(records, position, WINDOW_MS));
      return memo.get(key)!;
    };
    for (const s of samples) {
      expectAnswerMatches(s.view, s.rows, below(s.position), { groupBy: s.groupBy, ...(s.granularity ? { granularity: s.granularity } : {}) }, s.groupBy, `SEED=${seed} ${s.label} at ${JSON.stringify(s.position)} batch ${JSON.stringify(s.batch)}`);
    }

    // Exactly once: at the log's end, every acknowledged id counts 1, and nothing counts more.
    expect(finalLambda.position, `SEED=${seed}`).toEqual(Object.fromEntries(Object.entries(end).map(([k, v]) => [String(k), v])));
    const counts = new Map<string, number>();
    for (const row of finalLambda.rows) counts.set(row.id as string, (counts.get(row.id as string) ?? 0) + (row.n as number));
    for (const id of clients.acknowledged) expect(counts.get(id), `SEED=${seed} acknowledged ${id}`).toBe(1);
    expect([...counts.values()].every((n) => n === 1), `SEED=${seed} an id counted twice`).toBe(true);
    expect(records.length, `SEED=${seed} the log holds retries`).toBeGreaterThan(counts.size);
  }

  async function readLog(): Promise<RefRecord[]> {
    const log = await EmbeddedLog.open({ dir: path.join(dir, 'data', 'log'), partitions: PARTITIONS });
    try {
      const out: RefRecord[] = [];
      for await (const batch of log.read({ until: await log.endPosition() })) {
        for (const r of batch) out.push({ partition: r.partition, offset: r.offset, appendTime: r.appendTime, event: decodeEvent(r.value) as RefRecord['event'] });
      }
      return out;
    } finally {
      await log.close();
    }
  }

  it('during ingest: merged answers equal the reference and every acknowledged event counts once', async () => {
    await setUp();
    clients.start(4);
    for (let round = 0; round < 3; round++) {
      const p = await start();
      await pause(150);
      if (round === 0) expect((await runToEnd(p)).state).toBe('succeeded'); // a version to merge with from then on
      await pause(randomInt(100, 400));
      await sample(p, `round ${round}, ingesting`);
      await kill(p);
    }
    await finish();
  });

  it('during a batch run: waiting for the archive, and computing', async () => {
    await setUp();
    clients.start(4);
    const killedIn: string[] = [];
    for (const [round, state] of ['waiting_for_archive', 'computing', 'computing'].entries()) {
      const p = await start();
      await pause(300);
      await sample(p, `round ${round}, before the run`);
      const id = await startRun(p);
      killedIn.push(await killWhenRunIs(p, id, state));
    }
    console.info(`kill-handoff: runs killed in ${killedIn.join(', ')}`);
    // The first kill comes at the first poll after the 202: the run may just have left waiting for the archive.
    expect(['waiting_for_archive', 'computing'], `SEED=${seed}: the runs were killed in ${killedIn.join(', ')}`).toContain(killedIn[0]);
    expect(killedIn.slice(1), `SEED=${seed}: the runs were killed in ${killedIn.join(', ')}`).toContain('computing');
    await finish();
  });

  it('during the hand-off: publishing, and just after the new version serves', async () => {
    await setUp();
    clients.start(4);
    const killedIn: string[] = [];
    for (const [round, state] of ['publishing', 'publishing', 'succeeded'].entries()) {
      const p = await start();
      await pause(300);
      await sample(p, `round ${round}, before the run`);
      const id = await startRun(p);
      const seen = await killWhenRunIs(p, id, state);
      killedIn.push(seen);
      expect(seen, `SEED=${seed}`).not.toBe('failed');
    }
    console.info(`kill-handoff: runs killed in ${killedIn.join(', ')}`);
    await finish();
  });
});
