/**
 * The cost of data-subject erasure (issue 15, item 7):
 *
 *   node --import tsx bench/erasure.ts [--events 2000000] [--log embedded|kafka] [--partitions 1|4]
 *     [--clients 8] [--batch 100] [--ingest-seconds 10] [--fold-events N] [--erased-share 0.01]
 *     [--repeats 3] [--brokers 127.0.0.1:9092] [--json]
 *
 * Erasure is by rewrite (lambda/erasure.ts): nothing is paid per event while no erasure runs
 * (no encryption), so what there is to measure is the job itself and what it does to the
 * work beside it:
 *
 *   one erasure   a real `braid start` (audit on, as by default; batch and verify schedules
 *                 off) over a log of N demo events (written before it starts: straight into
 *                 its embedded log, or into a fresh topic), archived, folded and with a batch
 *                 version; then DELETE /v1/subjects/user-1 with nothing else running, timed
 *                 from the request to GET /v1/erasures/{id} saying completed. Each step
 *                 (archive, log, batch, speed, replay) is timed from the job's
 *                 progress.stores.<step>.state, polled every POLL_MS: a step's time is from
 *                 the previous step's observed `done` (the request, for the first) to its own.
 *   ingest        POST /v1/events, `clients` connections each sending the next batch of
 *                 `batch` demo events as soon as the last was answered: `ingest-seconds`
 *                 with no erasure, then the same while DELETE /v1/subjects/user-2 runs (the
 *                 window from the request to completed; one second of load before either
 *                 window is not counted). A 503 (an append that took too long) is retried,
 *                 as a client would: ingest is idempotent by id. Ratio during ÷ without;
 *                 the ingest answered in each step's window is in extra.bySteps, and the
 *                 duplicates each erasure's batch run reported in extra.erasureRunDuplicates
 *                 (every event here is unique by id, and erased records take no part in the
 *                 dedupe rule: checked to be 0).
 *   fold          (a child process; embedded log; --fold-events, 0 for none) three logs of
 *                 the same N demo events (retries and late events in, a timeline of 1,000
 *                 events/s): as generated; the same with the events of 1 % of the users
 *                 (put under ERASED_SUBJECTS keys, so that a handful of EmbeddedLog.erase
 *                 calls reach 1 % of the records) erased by EmbeddedLog.erase, the log step
 *                 of an erasure; and a reference log without those events. The speed layer's
 *                 catch-up from offset 0 (no batch version) over the first two, `repeats`
 *                 times each, interleaved, after one over the reference (the answer to check
 *                 against, and a warm-up), median: the fold is the same code either way, an erased
 *                 record being an event of type "!" no view lists. Ratio erased ÷ none.
 *
 * Checked before a figure is reported: each job completed, and found as many of the
 * subject's records in the archive (and, embedded, in the log) as were written; afterwards
 * the subject's export (GET /v1/subjects/{subject}/events) is empty, and a total count view
 * answers, for lambda, batch and kappa, the events below its position less those erased
 * (lambda: every event accepted, less the erased ones). Fold: the erased log read N records,
 * EmbeddedLog.erase changed as many as there were, and every view's state over the erased log
 * equals the state over the reference log (compareView: counts exact, HLL registers equal),
 * while the log without erasure differs. Topics, groups and temp directories are removed.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import { pino } from 'pino';
import { Agent, request } from 'undici';
import { parse } from 'yaml';
import { DemoGenerator, type RawEvent } from '../shared/demo/generator.js';
import { encodeEvent, recordKey, type StoredEvent } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';
import { KafkaLog } from '../shared/log/kafka/index.js';
import type { AppendInput, EventLog, Position } from '../shared/log/types.js';
import { compileView, parseViews, viewKey, type CompiledView } from '../shared/views/index.js';
import { SpeedLayer } from '../speed/speed-layer.js';
import { compareView, mergeRows } from '../lambda/index.js';
import { runPhaseProcess, startBenchBraid, type BenchBraid, cleanUpKafka } from './processes.js';
import { emit, latencySummary, ownPeakRssMB, round, type Comparison, type Latency, type Measured } from './report.js';

const { Kafka, logLevel } = kafkajs;

const STEPS = ['archive', 'log', 'batch', 'speed', 'replay'] as const;
type Step = (typeof STEPS)[number];
/** How often the job is polled: the steps' resolution. */
const POLL_MS = 20;
const SEED = 11;
/** The subjects erased in the braid process: demo users, each with about N / 5,000 events. */
const IDLE_SUBJECT = 'user-1';
const LOADED_SUBJECT = 'user-2';
const DEMO_USERS = 5_000;
/** The fold bench's erased subjects: the events of 1 % of the users, under this many keys. */
const ERASED_SUBJECTS = 5;
const FOLD_RATE = 1_000;
const FOLD_WINDOW_MS = 86_400_000; // the demo config's dedupe window, 24 h
const KAFKA_PARTITIONS = 4;

interface Options {
  readonly events: number;
  readonly log: 'embedded' | 'kafka';
  readonly partitions: number;
  readonly clients: number;
  readonly batch: number;
  readonly ingestSeconds: number;
  readonly foldEvents: number;
  readonly erasedShare: number;
  readonly repeats: number;
  readonly brokers: readonly string[];
  readonly json: boolean;
  readonly runId: string;
  /** set in a child: the fold phase, in this directory */
  readonly phase?: { readonly dir: string };
}

function parseOptions(): Options {
  const { values: a } = parseArgs({
    options: {
      events: { type: 'string', default: '2000000' },
      log: { type: 'string', default: 'embedded' },
      partitions: { type: 'string' },
      clients: { type: 'string', default: '8' },
      batch: { type: 'string', default: '100' },
      'ingest-seconds': { type: 'string', default: '10' },
      'fold-events': { type: 'string' },
      'erased-share': { type: 'string', default: '0.01' },
      repeats: { type: 'string', default: '3' },
      brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
      json: { type: 'boolean', default: false },
      // internal: the child running the fold phase
      phase: { type: 'string' },
      dir: { type: 'string' },
      'run-id': { type: 'string' },
    },
  });
  const whole = (name: string, s: string | undefined, min = 1) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}, got ${s}`);
    return n;
  };
  if (a.log !== 'embedded' && a.log !== 'kafka') throw new Error(`--log must be embedded or kafka, got ${a.log}`);
  const share = Number(a['erased-share']);
  if (!(share > 0 && share < 0.5)) throw new Error(`--erased-share must be above 0 and below 0.5, got ${a['erased-share']}`);
  if (a.phase !== undefined && (a.phase !== 'fold' || !a.dir)) throw new Error(`--phase must be fold, with --dir; got ${a.phase} (dir ${a.dir})`);
  const events = whole('events', a.events);
  return {
    events,
    log: a.log,
    partitions: a.partitions === undefined ? (a.log === 'kafka' ? KAFKA_PARTITIONS : 1) : whole('partitions', a.partitions),
    clients: whole('clients', a.clients),
    batch: whole('batch', a.batch),
    ingestSeconds: whole('ingest-seconds', a['ingest-seconds']),
    foldEvents: a['fold-events'] === undefined ? events : whole('fold-events', a['fold-events'], 0),
    erasedShare: share,
    repeats: whole('repeats', a.repeats),
    brokers: a.brokers!.split(','),
    json: a.json!,
    runId: a['run-id'] ?? `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`,
    ...(a.phase === 'fold' ? { phase: { dir: a.dir! } } : {}),
  };
}

const say = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sum = (p: Position) => Object.values(p).reduce((a, b) => a + b, 0);
const count = (n: number) => n.toLocaleString('en-US');
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const clientId = (o: Options) => `braid-bench-erasure-${o.runId}`;

/** Every event of the demo views, once: the total the checks compare. */
const TOTAL_VIEW = { name: 'erasure_total', events: ['page_view', 'signup', 'purchase', 'order_update'], granularity: 'day', dimensions: [], measures: { events: 'count' } };

async function demoViewDefinitions(): Promise<unknown[]> {
  const demo = parse(await readFile(fileURLToPath(new URL('../braid.yaml', import.meta.url)), 'utf8')) as { views: unknown[] };
  return [...demo.views, TOTAL_VIEW];
}

// ---- the braid process ------------------------------------------------------------------

const agent = new Agent({ connections: 64 });

async function call(url: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  const res = await request(url, {
    method,
    dispatcher: agent,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text };
}

async function getJson<T>(url: string): Promise<T> {
  const r = await call(url);
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json as T;
}

/** The log filled before braid starts: N demo events as ingest stores them, with each subject's count. */
async function prefill(o: Options, log: EventLog): Promise<{ seconds: number; subjects: Map<string, number> }> {
  const generator = new DemoGenerator({ seed: SEED, duplicateRate: 0 });
  const subjects = new Map([IDLE_SUBJECT, LOADED_SUBJECT].map((s) => [s, 0]));
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let done = 0; done < o.events; done += 5_000) {
    const events = generator.stored(Math.min(5_000, o.events - done), Date.now());
    for (const e of events) if (subjects.has(recordKey(e))) subjects.set(recordKey(e), subjects.get(recordKey(e))! + 1);
    const p = log.append(events.map((e) => ({ key: recordKey(e), value: encodeEvent(e) }))).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return { seconds: (performance.now() - started) / 1000, subjects };
}

/** Resolves once the archive covers the log's end and the speed layer has folded it. */
async function settled(url: string, timeoutMs = 300_000): Promise<Position> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await getJson<{ log: { end: Position }; archive: { lag: Position } | null; speed: { lag: Position; rebuilding: boolean } | null }>(`${url}/v1/status`);
    if (s.archive && s.speed && sum(s.archive.lag) === 0 && sum(s.speed.lag) === 0 && !s.speed.rebuilding) return s.log.end;
    if (Date.now() > deadline) throw new Error(`braid did not settle within ${timeoutMs / 1000} s: ${JSON.stringify(s)}`);
    await sleep(100);
  }
}

async function batchRun(url: string): Promise<number> {
  const started = performance.now();
  const r = await call(`${url}/v1/batch/runs`, 'POST', {});
  if (r.status !== 202) throw new Error(`POST /v1/batch/runs: ${r.status} ${r.text.slice(0, 300)}`);
  const id = (r.json as { id: string }).id;
  for (;;) {
    const run = await getJson<{ state: string; error?: string }>(`${url}/v1/batch/runs/${id}`);
    if (run.state === 'succeeded') return (performance.now() - started) / 1000;
    if (run.state === 'failed') throw new Error(`batch run ${id} failed: ${run.error}`);
    await sleep(50);
  }
}

interface JobInfo {
  id: string;
  state: 'queued' | 'running' | 'completed' | 'failed';
  startedAt?: string;
  finishedAt?: string;
  requestedAt: string;
  until?: Position;
  error?: string;
  progress: { stores: Record<Step, { state: 'pending' | 'running' | 'done'; records?: number; files?: number; version?: number; run?: string }> };
}

interface ErasureRun {
  readonly subject: string;
  /** from the DELETE to completed observed */
  readonly seconds: number;
  /** the job's own finishedAt − startedAt (ms resolution) */
  readonly jobSeconds: number;
  /** per step, from the previous step's observed done (the DELETE, for the first) to its own */
  readonly steps: Record<Step, number>;
  readonly job: JobInfo;
  /** performance.now() of the DELETE and of each step's observed done: the windows of the ingest beside it */
  readonly t0: number;
  readonly doneAt: Record<Step, number>;
  readonly polls: number;
  /** the log's records when it was requested */
  readonly logRecords: number;
}

async function erase(url: string, subject: string): Promise<ErasureRun> {
  const logRecords = (await getJson<{ log: { endTotal: number } }>(`${url}/v1/status`)).log.endTotal;
  const t0 = performance.now();
  const r = await call(`${url}/v1/subjects/${encodeURIComponent(subject)}`, 'DELETE');
  if (r.status !== 202) throw new Error(`DELETE /v1/subjects/${subject}: ${r.status} ${r.text.slice(0, 300)}`);
  const id = (r.json as JobInfo).id;
  const done: Partial<Record<Step, number>> = {};
  let polls = 0;
  for (;;) {
    const job = await getJson<JobInfo>(`${url}/v1/erasures/${id}`);
    const t = performance.now() - t0;
    polls++;
    for (const step of STEPS) if (job.progress.stores[step].state === 'done') done[step] ??= t;
    if (job.state === 'failed') throw new Error(`erasure of ${subject} failed: ${job.error} (${JSON.stringify(job.progress)})`);
    if (job.state === 'completed') {
      const steps = {} as Record<Step, number>;
      const doneAt = {} as Record<Step, number>;
      let previous = 0;
      for (const step of STEPS) {
        steps[step] = round(((done[step] ?? t) - previous) / 1000);
        previous = done[step] ?? t;
        doneAt[step] = t0 + previous;
      }
      const jobSeconds = (Date.parse(job.finishedAt!) - Date.parse(job.startedAt!)) / 1000;
      return { subject, seconds: t / 1000, jobSeconds, steps, job, t0, doneAt, polls, logRecords };
    }
    await sleep(POLL_MS);
  }
}

/** A window of the load: events accepted and the latencies of the requests answered in it. */
interface Window {
  readonly seconds: number;
  readonly events: number;
  readonly latencyMs: Latency;
  readonly requests: number;
  readonly retried503: number;
  /** during an erasure: the ingest answered in each step's window */
  readonly bySteps?: ReturnType<Load['bySteps']>;
}

/**
 * `clients` callers POSTing the next batch of demo events (none of the erased subjects') as
 * soon as the last one was answered, until stopped; a 503 is retried after a pause.
 */
class Load {
  readonly #url: string;
  readonly #generator = new DemoGenerator({ seed: SEED + 1, duplicateRate: 0 });
  readonly #acks: Array<{ at: number; ms: number; events: number }> = [];
  readonly #loops: Promise<void>[];
  #stopped = false;
  retried503 = 0;
  failures: string[] = [];
  accepted = 0;

  constructor(url: string, clients: number, batch: number, skip: ReadonlySet<string>) {
    this.#url = url;
    this.#loops = Array.from({ length: clients }, async () => {
      while (!this.#stopped) {
        const events: RawEvent[] = [];
        while (events.length < batch) {
          const e = this.#generator.next(Date.now());
          if (!skip.has(e.key ?? e.id)) events.push(e);
        }
        const body = JSON.stringify(events);
        const t = performance.now();
        for (let attempt = 0; ; attempt++) {
          const res = await request(`${this.#url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher: agent });
          const text = await res.body.text();
          if (res.statusCode === 202) {
            const now = performance.now();
            this.#acks.push({ at: now, ms: now - t, events: events.length });
            this.accepted += events.length;
            break;
          }
          if (res.statusCode === 503 && attempt < 20) {
            this.retried503++;
            await sleep(100);
            continue;
          }
          this.failures.push(`${res.statusCode} ${text.slice(0, 200)}`);
          break;
        }
      }
    });
  }

  now(): number {
    return performance.now();
  }

  /** Per step of an erasure: the ingest answered while it ran (events/s and the slowest ack). */
  bySteps(run: ErasureRun): Record<Step, { seconds: number; eventsPerSecond: number; requests: number; maxAckMs: number | null }> {
    const out = {} as Record<Step, { seconds: number; eventsPerSecond: number; requests: number; maxAckMs: number | null }>;
    let from = run.t0;
    for (const step of STEPS) {
      const to = run.doneAt[step];
      const inside = this.#acks.filter((a) => a.at >= from && a.at < to);
      const seconds = (to - from) / 1000;
      const events = inside.reduce((n, a) => n + a.events, 0);
      out[step] = { seconds: round(seconds), eventsPerSecond: seconds > 0 ? Math.round(events / seconds) : 0, requests: inside.length, maxAckMs: inside.length ? round(Math.max(...inside.map((a) => a.ms)), 1) : null };
      from = to;
    }
    return out;
  }

  window(from: number, to: number, retried503: number): Window {
    const inside = this.#acks.filter((a) => a.at >= from && a.at < to);
    return {
      seconds: (to - from) / 1000,
      events: inside.reduce((n, a) => n + a.events, 0),
      latencyMs: latencySummary(inside.map((a) => a.ms)),
      requests: inside.length,
      retried503,
    };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }
}

interface BraidResult {
  readonly problems: string[];
  readonly idle?: ErasureRun;
  readonly loaded?: ErasureRun;
  readonly without?: Window;
  readonly during?: Window;
  readonly extra: Record<string, unknown>;
}

function braidConfig(o: Options, topic: string): object {
  return {
    log: o.log === 'kafka' ? { partitions: o.partitions, kafka: { brokers: o.brokers, topic, clientId: clientId(o) } } : { partitions: o.partitions },
    // Neither a scheduled batch run nor a verification may land in the measurement.
    batch: { schedule: 'off', fullSchedule: 'off' },
    verify: { schedule: 'off' },
    logging: { level: 'warn' },
    ingest: { maxBatchEvents: Math.max(1_000, o.batch) },
  };
}

async function measureBraid(o: Options, work: string, topics: string[]): Promise<BraidResult> {
  const problems: string[] = [];
  const extra: Record<string, unknown> = {};
  const dir = path.join(work, 'braid');
  const topic = `braid-bench-erasure-${o.runId}`;
  if (o.log === 'kafka') topics.push(topic, `${topic}.audit`);

  say(`erasure: writing ${count(o.events)} demo events into the ${o.log} log`);
  const log: EventLog =
    o.log === 'kafka'
      ? await KafkaLog.open({ brokers: o.brokers, topic, partitions: o.partitions, clientId: clientId(o) })
      : await EmbeddedLog.open({ dir: path.join(dir, 'data', 'log'), partitions: o.partitions });
  let filled: Awaited<ReturnType<typeof prefill>>;
  try {
    filled = await prefill(o, log);
  } finally {
    await log.close();
  }
  extra.prefillSeconds = round(filled.seconds, 1);
  extra.subjectRecords = Object.fromEntries(filled.subjects);

  const started = performance.now();
  const braid: BenchBraid = await startBenchBraid(dir, { ...braidConfig(o, topic), views: await demoViewDefinitions() }, { NODE_OPTIONS: '--max-old-space-size=8192' });
  try {
    const url = braid.url;
    await settled(url);
    extra.startupSeconds = round((performance.now() - started) / 1000, 1);
    extra.firstBatchRunSeconds = round(await batchRun(url), 2);
    await settled(url);
    say(`erasure: braid up over ${count(o.events)} events in ${extra.startupSeconds} s, first batch run ${extra.firstBatchRunSeconds} s`);

    // 1: one erasure, nothing else running.
    const idle = await erase(url, IDLE_SUBJECT);
    say(`erasure: ${IDLE_SUBJECT} (idle) in ${round(idle.seconds, 2)} s: ${JSON.stringify(idle.steps)}`);
    await settled(url);

    // 2: ingest without an erasure, then during one.
    const skip = new Set([IDLE_SUBJECT, LOADED_SUBJECT]);
    const load = new Load(url, o.clients, o.batch, skip);
    let without: Window;
    let during: Window;
    let loaded: ErasureRun;
    try {
      await sleep(1_000);
      let r0 = load.retried503;
      const a = load.now();
      await sleep(o.ingestSeconds * 1_000);
      const b = load.now();
      without = load.window(a, b, load.retried503 - r0);
      say(`erasure: ingest without an erasure ${Math.round(without.events / without.seconds)} events/s, p99 ${without.latencyMs.p99} ms`);
      r0 = load.retried503;
      const c = load.now();
      loaded = await erase(url, LOADED_SUBJECT);
      const d = load.now();
      during = { ...load.window(c, d, load.retried503 - r0), bySteps: load.bySteps(loaded) };
      say(`erasure: ${LOADED_SUBJECT} during ingest in ${round(loaded.seconds, 2)} s: ${JSON.stringify(loaded.steps)}; ingest ${Math.round(during.events / during.seconds)} events/s, p99 ${during.latencyMs.p99} ms, max ${during.latencyMs.max} ms`);
      say(`erasure: ingest in each step of that erasure: ${JSON.stringify(during.bySteps)}`);
    } finally {
      await load.stop();
    }
    problems.push(...load.failures.slice(0, 3).map((f) => `ingest: a request failed: ${f}`));
    if (load.failures.length > 3) problems.push(`ingest: ${load.failures.length - 3} more failed requests`);
    extra.ingestRetried503 = load.retried503;
    extra.ingestAccepted = load.accepted;

    // The checks: each job found what was written, the subjects are gone, every source adds up.
    for (const run of [idle, loaded]) {
      const want = filled.subjects.get(run.subject)!;
      const stores = run.job.progress.stores;
      if (stores.archive.records !== want) problems.push(`${run.subject}: the archive step found ${stores.archive.records} records, ${want} were written`);
      // Kafka counts the key's records from the partition's start, which an earlier erasure may have moved.
      if (o.log === 'embedded' && stores.log.records !== want) problems.push(`${run.subject}: the log step found ${stores.log.records} records, ${want} were written`);
      const exported = await call(`${url}/v1/subjects/${encodeURIComponent(run.subject)}/events`);
      if (exported.status !== 200) problems.push(`${run.subject}: export answered ${exported.status} ${exported.text.slice(0, 200)}`);
      else if (exported.text.trim() !== '') problems.push(`${run.subject}: the export still holds ${exported.text.trim().split('\n').length} events after the erasure`);
    }
    const end = await settled(url);
    const erased = filled.subjects.get(IDLE_SUBJECT)! + filled.subjects.get(LOADED_SUBJECT)!;
    const totals: Record<string, unknown> = {};
    for (const source of ['lambda', 'batch', 'kappa'] as const) {
      const r = await call(`${url}/v1/views/${TOTAL_VIEW.name}?granularity=all&source=${source}`);
      if (r.status !== 200) {
        problems.push(`total view, source=${source}: ${r.status} ${r.text.slice(0, 200)}`);
        continue;
      }
      const body = r.json as { rows: Array<{ events: number }>; position: Position; batch?: { snapshot: Position } | null };
      const got = body.rows.reduce((n, row) => n + row.events, 0);
      // Every record is a distinct event (no retries generated) unless a 503 was retried.
      const below = source === 'batch' ? body.batch!.snapshot : body.position;
      const want = source === 'lambda' ? o.events + load.accepted - erased : sum(below) - erased;
      totals[source] = { counted: got, expected: want, position: sum(below) };
      if (source === 'lambda' && sum(below) !== sum(end)) problems.push(`total view, source=lambda: answered at ${sum(below)} records, the log holds ${sum(end)}`);
      if (got !== want && (source === 'lambda' || load.retried503 === 0)) problems.push(`total view, source=${source}: ${got} events counted, ${want} expected (${sum(below)} records below its position, ${erased} erased)`);
    }
    extra.totals = totals;
    // Every event written here is unique by id: duplicates a run reports are the erased records, which share the id "".
    const runDuplicates: Record<string, number | null> = {};
    for (const run of [idle, loaded]) {
      const id = run.job.progress.stores.batch.run;
      if (id) runDuplicates[run.subject] = (await getJson<{ progress: { duplicates?: number } }>(`${url}/v1/batch/runs/${id}`)).progress.duplicates ?? null;
    }
    extra.erasureRunDuplicates = runDuplicates;
    // Erased records take no part in the dedupe rule: a run over unique ids reports none.
    for (const [subject, n] of Object.entries(runDuplicates)) if (n !== null && n !== 0) problems.push(`the batch run of ${subject}'s erasure reported ${n} duplicates where every event is unique by id`);
    extra.logRecordsAtEnd = sum(end);
    extra.braidPeakRssMB = braid.peakRssMB();
    return { problems, idle, loaded, without, during, extra };
  } catch (err) {
    problems.push((err as Error).message);
    return { problems, extra };
  } finally {
    await braid.stop();
  }
}

// ---- the fold over erased records, in a child process --------------------------------------

interface FoldSide {
  readonly seconds: number[];
  readonly records: number;
  readonly folded: number;
  readonly duplicates: number;
}

interface FoldResult {
  readonly events: number;
  readonly erasedRecords: number;
  readonly erasedShare: number;
  readonly subjects: number;
  readonly eraseSeconds: number[];
  readonly none: FoldSide;
  readonly erased: FoldSide;
  readonly reference: FoldSide;
  readonly totals: { none: number; erased: number; reference: number };
  readonly problems: string[];
  readonly peakRssMB: number;
}

/** The fold bench's subjects: the events of users 1..k (k = share × users) under ERASED_SUBJECTS keys. */
function erasedKey(e: StoredEvent, share: number): string | undefined {
  const m = /^user-(\d+)$/.exec(e.key ?? '');
  if (!m) return undefined;
  const n = Number(m[1]);
  return n <= Math.round(share * DEMO_USERS) ? `erased-subject-${n % ERASED_SUBJECTS}` : undefined;
}

/** The three logs: as generated, the same (to be erased), and without the subjects' events; same append times. */
async function buildFoldLogs(o: Options, dirs: { none: string; erased: string; reference: string }): Promise<{ subjects: Map<string, number>; end: Position }> {
  const start = Date.UTC(2026, 10, 27);
  let now = start;
  const open = (dir: string) => EmbeddedLog.open({ dir, partitions: 1, clock: () => now });
  const none = await open(dirs.none);
  const erased = await open(dirs.erased);
  const reference = await open(dirs.reference);
  const generator = new DemoGenerator({ seed: SEED });
  const subjects = new Map<string, number>();
  try {
    for (let i = 0; i < o.foldEvents; i += 1_000) {
      now = start + Math.floor((i / FOLD_RATE) * 1_000);
      const all: AppendInput[] = [];
      const kept: AppendInput[] = [];
      for (const e of generator.stored(Math.min(1_000, o.foldEvents - i), now)) {
        const key = erasedKey(e, o.erasedShare);
        const event = key ? { ...e, key } : e;
        const record = { key: recordKey(event), value: encodeEvent(event) };
        all.push(record);
        if (key) subjects.set(key, (subjects.get(key) ?? 0) + 1);
        else kept.push(record);
      }
      await Promise.all([none.append(all), erased.append(all), reference.append(kept)]);
    }
    return { subjects, end: await erased.endPosition() };
  } finally {
    await Promise.all([none.close(), erased.close(), reference.close()]);
  }
}

async function foldViews(): Promise<CompiledView[]> {
  // latest and first hold their record's offset in the state, and a log written without the
  // erased events has other offsets than the rewritten one (which keeps them): those measures
  // are left out of this comparison (the erasure test compares their answers with the reference).
  const defs = (await demoViewDefinitions()) as Array<{ measures: Record<string, unknown> }>;
  const placed = (spec: unknown) => typeof spec === 'object' && spec !== null && ('latest' in spec || 'first' in spec);
  const kept = defs
    .map((d) => ({ ...d, measures: Object.fromEntries(Object.entries(d.measures).filter(([, spec]) => !placed(spec))) }))
    .filter((d) => Object.keys(d.measures).length > 0);
  return parseViews(kept).map(compileView);
}

/** The speed layer's catch-up from offset 0 over the log in `dir`; the merged rows of every view. */
async function catchUp(dir: string, views: readonly CompiledView[]) {
  const log = await EmbeddedLog.open({ dir, partitions: 1 });
  try {
    const speed = new SpeedLayer({ log, views, dedupeWindowMs: FOLD_WINDOW_MS, base: () => undefined, logger: pino({ level: 'silent' }) });
    const started = performance.now();
    await speed.start();
    const seconds = (performance.now() - started) / 1000;
    const stats = speed.stats();
    const { tables } = speed.capture();
    const rows = new Map(views.map((v) => [v.def.name, mergeRows(v, tables.map((t) => t.get(viewKey(v))!.rows()))]));
    await speed.close();
    return { seconds, folded: stats.folded, duplicates: stats.duplicates, rows };
  } finally {
    await log.close();
  }
}

async function phaseFold(o: Options): Promise<FoldResult> {
  const problems: string[] = [];
  const dirs = { none: path.join(o.phase!.dir, 'none'), erased: path.join(o.phase!.dir, 'erased'), reference: path.join(o.phase!.dir, 'reference') };
  say(`erasure fold: writing three logs of ${count(o.foldEvents)} demo events`);
  const { subjects, end } = await buildFoldLogs(o, dirs);
  const erasedRecords = [...subjects.values()].reduce((a, b) => a + b, 0);

  // The log step of an erasure, per subject: EmbeddedLog.erase below the end.
  const eraseSeconds: number[] = [];
  const log = await EmbeddedLog.open({ dir: dirs.erased, partitions: 1 });
  try {
    for (const [subject, n] of subjects) {
      const t = performance.now();
      const { records } = await log.erase(subject, end);
      eraseSeconds.push((performance.now() - t) / 1000);
      if (records !== n) problems.push(`EmbeddedLog.erase(${subject}) changed ${records} records, ${n} were written`);
    }
  } finally {
    await log.close();
  }
  say(`erasure fold: ${count(erasedRecords)} records (${round((100 * erasedRecords) / o.foldEvents, 2)} %) of ${subjects.size} subjects erased, ${round(median(eraseSeconds))} s per EmbeddedLog.erase`);

  const views = await foldViews();
  const total = (rows: Map<string, ReadonlyMap<string, { states: unknown[] }>>) => [...rows.get(TOTAL_VIEW.name)!.values()].reduce((n, r) => n + (r.states[0] as number), 0);
  // The reference first: the answer to check against, and the warm-up (the first catch-up in a process runs colder code).
  const reference = await catchUp(dirs.reference, views);
  const sides = { none: [] as number[], erased: [] as number[] };
  const last: Partial<Record<'none' | 'erased', Awaited<ReturnType<typeof catchUp>>>> = {};
  for (let r = 0; r < o.repeats; r++) {
    // Interleaved, each side first every other time: drift on the machine falls on both.
    for (const side of r % 2 === 0 ? (['none', 'erased'] as const) : (['erased', 'none'] as const)) {
      const run = await catchUp(dirs[side], views);
      sides[side].push(run.seconds);
      last[side] = run;
    }
  }
  const noneRun = last.none!;
  const erasedRun = last.erased!;
  // Erased records are no records to the fold: it counts the others only.
  if (erasedRun.folded + erasedRun.duplicates !== o.foldEvents - erasedRecords) {
    problems.push(`the catch-up over the erased log counted ${erasedRun.folded + erasedRun.duplicates} records, not the ${o.foldEvents - erasedRecords} left after erasing ${erasedRecords}`);
  }
  if (noneRun.folded + noneRun.duplicates !== o.foldEvents) problems.push(`the catch-up over the log read ${noneRun.folded + noneRun.duplicates} records, not ${o.foldEvents}`);
  for (const view of views) {
    const c = compareView(view, erasedRun.rows.get(view.def.name)!, reference.rows.get(view.def.name)!);
    if (!c.ok) problems.push(`${view.def.name}: the erased log's state differs from the reference without those events: ${JSON.stringify(c.examples.slice(0, 2))}`);
  }
  const totals = { none: total(noneRun.rows), erased: total(erasedRun.rows), reference: total(reference.rows) };
  if (totals.none <= totals.erased) problems.push(`the log without erasure counts ${totals.none} events, the erased one ${totals.erased}: the erasure removed nothing`);
  const side = (seconds: number[], run: { folded: number; duplicates: number }): FoldSide => ({ seconds: seconds.map((s) => round(s)), records: run.folded + run.duplicates, folded: run.folded, duplicates: run.duplicates });
  return {
    events: o.foldEvents,
    erasedRecords,
    erasedShare: round(erasedRecords / o.foldEvents, 4),
    subjects: subjects.size,
    eraseSeconds: eraseSeconds.map((s) => round(s)),
    none: side(sides.none, noneRun),
    erased: side(sides.erased, erasedRun),
    reference: side([reference.seconds], reference),
    totals,
    problems,
    peakRssMB: ownPeakRssMB(),
  };
}

// ---- the comparisons --------------------------------------------------------------------------

function braidComparison(o: Options, r: BraidResult): Comparison {
  const logName = o.log === 'kafka' ? `Kafka log (${o.partitions} partitions)` : `embedded log (${o.partitions} partition${o.partitions === 1 ? '' : 's'})`;
  const results: Measured[] = [];
  const { idle, loaded, without, during } = r;
  if (idle && loaded && without && during) {
    const job = (run: ErasureRun) => ({ subject: run.subject, logRecords: run.logRecords, jobSeconds: run.jobSeconds, steps: run.steps, stores: run.job.progress.stores, polls: run.polls, pollMs: POLL_MS });
    results.push({ name: `one erasure, nothing else running: the whole job (${count(idle.logRecords)} records in the log)`, side: 'braid', seconds: round(idle.seconds, 2), extra: job(idle) });
    for (const step of STEPS) results.push({ name: `  its ${step} step`, side: 'braid', seconds: idle.steps[step] });
    results.push({ name: `one erasure during the ingest below: the whole job (${count(loaded.logRecords)} records in the log)`, side: 'braid', seconds: round(loaded.seconds, 2), extra: job(loaded) });
    const ingest = (w: Window, name: string, side: Measured['side']): Measured => ({
      name,
      side,
      eventsPerSecond: Math.round(w.events / w.seconds),
      seconds: round(w.seconds, 2),
      latencyMs: w.latencyMs,
      extra: { events: w.events, requests: w.requests, retried503: w.retried503, ...(w.bySteps ? { bySteps: w.bySteps } : {}) },
    });
    results.push({ ...ingest(during, `POST /v1/events while that erasure runs, ${o.clients} clients, batches of ${o.batch}`, 'braid'), ...(typeof r.extra.braidPeakRssMB === 'number' ? { peakRssMB: r.extra.braidPeakRssMB } : {}) });
    results.push(ingest(without, `POST /v1/events, no erasure running (same process, just before)`, 'ceiling'));
  }
  const ok = results.length > 0 && r.problems.length === 0;
  return {
    item: 7,
    title: `Erasure of one data subject, ${logName}`,
    size: `${count(o.events)} events, ${o.log} log`,
    check: {
      same: ok,
      what: `each job completed and found in the archive${o.log === 'embedded' ? ' and the log' : ''} as many of the subject's records as were written; afterwards the subjects' exports are empty and a total count view answers, for lambda, batch and kappa, the events below its position less the erased ones (lambda: all ${count(o.events)} written plus all accepted during the run, less the erased)`,
      problems: r.problems.length === 0 && results.length === 0 ? ['the bench produced no figures'] : r.problems,
    },
    results,
    // Not the loaded job ÷ the idle one: the ingest grew the log in between (each row names its size).
    ...(idle && loaded && without && during ? { ratios: { ingestDuringOverWithout: round(during.events / during.seconds / (without.events / without.seconds)) } } : {}),
    extra: { ...r.extra, log: o.log, partitions: o.partitions, clients: o.clients, batchEvents: o.batch, demo: { seed: SEED, duplicateRate: 0 }, node: process.version, cpus: cpus().length, loadavg: loadavg().map((x) => round(x, 2)) },
  };
}

function foldComparison(o: Options, f: FoldResult | undefined, error: string | undefined): Comparison {
  const problems = error ? [error] : f!.problems;
  const results: Measured[] = [];
  if (f) {
    const eps = (s: FoldSide) => Math.round(s.records / median(s.seconds));
    const pct = `${round(100 * f.erasedShare, 2)} %`;
    results.push({ name: `speed-layer catch-up from offset 0, ${pct} of the records erased (${f.subjects} subjects)`, side: 'braid', eventsPerSecond: eps(f.erased), seconds: round(median(f.erased.seconds)), peakRssMB: f.peakRssMB, extra: { ...f.erased } });
    results.push({ name: 'speed-layer catch-up from offset 0, no record erased', side: 'braid', eventsPerSecond: eps(f.none), seconds: round(median(f.none.seconds)), extra: { ...f.none } });
    results.push({ name: `EmbeddedLog.erase of one subject (the log step alone; ${count(Math.round(f.erasedRecords / f.subjects))} of its records)`, side: 'braid', seconds: round(median(f.eraseSeconds)), extra: { perSubject: f.eraseSeconds } });
  }
  return {
    item: 7,
    title: 'Speed-layer fold over erased records',
    size: `${count(o.foldEvents)} events, ${round(100 * (f?.erasedShare ?? o.erasedShare), 2)} % erased`,
    check: {
      same: problems.length === 0,
      what: `every view's state (the demo views and a total count) over the erased log equals the state over a log written without those events (counts exact, HLL registers equal, sums to 1e-9); the log without erasure counts more; ${o.repeats} catch-ups per side, interleaved, median`,
      problems,
    },
    results: problems.length === 0 ? results : [],
    ...(f && problems.length === 0 ? { ratios: { erasedOverNone: round(results[0]!.eventsPerSecond! / results[1]!.eventsPerSecond!) } } : {}),
    extra: f ? { totals: f.totals, erasedRecords: f.erasedRecords, dedupeWindowMs: FOLD_WINDOW_MS, timelineEventsPerSecond: FOLD_RATE, demo: { seed: SEED, duplicateRate: 0.02, lateRate: 0.03 } } : {},
  };
}

function markdown(c: Comparison): string {
  const head = `## ${c.title} (${c.size})`;
  if (!c.check.same) return [head, '', `No figures: ${c.check.problems.length} problem(s).`, '', ...c.check.problems.map((p) => `- ${p}`), ''].join('\n');
  const n = (x: number | undefined) => (x === undefined ? '' : x.toLocaleString('en-US'));
  const rows = c.results.map((m) => `| ${m.name} | ${n(m.eventsPerSecond)} | ${m.latencyMs ? `${m.latencyMs.p50} / ${m.latencyMs.p99} / ${m.latencyMs.max}` : ''} | ${m.seconds ?? ''} |`);
  return [head, '', `Checked first: ${c.check.what}.`, '', '| what ran | events/s | latency p50 / p99 / max ms | seconds |', '| --- | --- | --- | --- |', ...rows, '', `Ratios: ${JSON.stringify(c.ratios ?? {})}`, ''].join('\n');
}

async function main(o: Options): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'braid-bench-erasure-'));
  const topics: string[] = [];
  const comparisons: Comparison[] = [];
  try {
    // A bench that could not even start braid still reports, as a comparison without figures.
    comparisons.push(braidComparison(o, await measureBraid(o, work, topics).catch((err: unknown): BraidResult => ({ problems: [(err as Error).message], extra: {} }))));
    if (o.foldEvents > 0) {
      let fold: FoldResult | undefined;
      let error: string | undefined;
      try {
        fold = runPhaseProcess<FoldResult>(
          fileURLToPath(import.meta.url),
          ['--phase', 'fold', '--dir', path.join(work, 'fold'), '--fold-events', String(o.foldEvents), '--erased-share', String(o.erasedShare), '--repeats', String(o.repeats), '--run-id', o.runId],
          ['--max-old-space-size=8192'],
        );
      } catch (err) {
        error = `the fold phase: ${(err as Error).message}`;
      }
      comparisons.push(foldComparison(o, fold, error));
    }
  } finally {
    await cleanUpKafka(o.brokers, clientId(o), topics).catch((err: unknown) => say(`could not delete the topics ${topics.join(', ')}: ${(err as Error).message}`));
    await agent.close();
    await rm(work, { recursive: true, force: true });
  }
  for (const c of comparisons) {
    if (o.json) emit(c);
    else process.stdout.write(`${markdown(c)}\n`);
  }
  if (comparisons.some((c) => !c.check.same)) process.exitCode = 1;
}

const options = parseOptions();
if (options.phase) {
  const result = await phaseFold(options);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await main(options);
}
