/**
 * Data-subject erasure survives SIGKILL (lambda/erasure.ts: "a job killed at any point
 * (SIGKILL included) resumes at the next start and completes"). The real braid process, on
 * the embedded log, holds a few hundred events of eight subjects; three subjects are erased,
 * one after the other, and the process is killed with SIGKILL while each job is under way —
 * at three moments: at once after the 202, once a step is done, once three steps are done.
 * Each restart on the same data directory resumes the job (same id) to `completed`.
 *
 * Afterwards: the erased subjects have no stored events; lambda, batch and kappa answers
 * count exactly the events sent for the kept subjects; a Lambda-vs-Kappa verification finds
 * no mismatch. Then the process stops cleanly and every file under the data directory is
 * searched (raw bytes as latin1 and UTF-16, Parquet decoded through DuckDB, the embedded
 * log through its reader): the erased subjects' markers (key and data) are nowhere, the
 * kept ones' are found.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErasureInfo } from '../../lambda/erasure.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { Rng } from '../support/interleaving-schedule.js';
import { startBraidProcess, type BraidProcess } from '../support/process.js';
import { searchStores } from '../support/store-search.js';

const KEY = 'erasure-kill-key-0123456789abcdef'; // a plain key: every scope
const PARTITIONS = 2;
const SUBJECTS = 8;
/** A subject's key and the marker put in its events' data: neither is a substring of another's. */
const keyOf = (n: number) => `sbj${n}x`;
const markOf = (n: number) => `dat${n}x`;
const TYPES = ['visit', 'buy'];

const views = [
  // per subject and marker: a batch version, the speed layer and a replay hold both as dimension values
  { name: 'by_key', events: TYPES, granularity: 'day', dimensions: ['key', 'data.note'], measures: { n: 'count', amount: { sum: 'data.amount' } } },
  // no dimensions: the subjects only in a distinct state
  { name: 'totals', events: TYPES, granularity: 'hour', dimensions: [], measures: { events: 'count', subjects: { distinct: 'key' }, notes: { distinct: 'data.note' } } },
];

/** The kill points, one per erased subject: how far the job must be when the process is killed. */
const KILLS = [
  { subject: 1, label: 'at once after the 202', stepsDone: 0 },
  { subject: 2, label: 'once a step is done', stepsDone: 1 },
  { subject: 3, label: 'once three steps are done', stepsDone: 3 },
] as const;

const WAIT_MS = 30_000;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
const procs: BraidProcess[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

interface Answer {
  status: number;
  text: string;
}

async function call(url: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown): Promise<Answer> {
  const res = await request(url, {
    method,
    headers: { 'x-api-key': KEY, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    headersTimeout: WAIT_MS,
    bodyTimeout: WAIT_MS,
  });
  return { status: res.statusCode, text: await res.body.text() };
}

async function json<T>(url: string, method: 'GET' | 'POST' | 'DELETE' = 'GET', body?: unknown, expected = 200): Promise<T> {
  const a = await call(url, method, body);
  expect(a.status, `${method} ${url}: ${a.text}`).toBe(expected);
  return JSON.parse(a.text) as T;
}

/** Polls `read` until `done` holds of its value, for at most `ms`. */
async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, ms = WAIT_MS, every = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(v)}`);
    await pause(every);
  }
}

describe('a data-subject erasure killed with SIGKILL', () => {
  it('resumes after each restart and completes; the erased subjects are nowhere in the data directory, the kept ones are', async () => {
    const started = Date.now();
    const dir = await mkdtemp(path.join(tmpdir(), 'braid-erasure-kill-'));
    dirs.push(dir);
    const dataDir = path.join(dir, 'data');
    const configFile = path.join(dir, 'braid.yaml');
    // JSON is YAML.
    await writeFile(
      configFile,
      JSON.stringify({
        log: { partitions: PARTITIONS, segmentSize: '16KB' }, // erased records in sealed segments and in the active one
        dedupe: { window: '1h' },
        auth: { apiKeys: [KEY] },
        batch: { schedule: 'off', fullSchedule: 'off' },
        verify: { schedule: 'off' },
        archive: { flushIntervalMs: 50 },
        views,
        logging: { level: 'warn' },
      }),
    );

    const start = async (): Promise<BraidProcess> => {
      // The embedded log, even when the tests run with BRAID_KAFKA_BROKERS set.
      const p = await startBraidProcess(['--config', configFile, '--data-dir', dataDir], {
        BRAID_KAFKA_BROKERS: '',
        BRAID_LOG_KAFKA_BROKERS: '',
        BRAID_PARTITIONS: '',
        BRAID_LOG_PARTITIONS: '',
      });
      procs.push(p);
      const ready = await call(`${p.url}/readyz`);
      expect(ready.status, p.output()).toBe(200);
      return p;
    };
    const kill = async (p: BraidProcess) => {
      p.child.kill('SIGKILL');
      expect(await p.exited).toBe('SIGKILL');
    };
    const job = (p: BraidProcess, id: string) => json<ErasureInfo>(`${p.url}/v1/erasures/${id}`);
    const onDisk = async (id: string) => JSON.parse(await readFile(path.join(dataDir, 'erasures', `${id}.json`), 'utf8')) as ErasureInfo & { key?: string };
    const runBatch = async (p: BraidProcess) => {
      const run = await json<{ id: string }>(`${p.url}/v1/batch/runs`, 'POST', {}, 202);
      const done = await until('the batch run', () => json<{ state: string; error?: string }>(`${p.url}/v1/batch/runs/${run.id}`), (r) => r.state === 'succeeded' || r.state === 'failed');
      expect(done.state, done.error).toBe('succeeded');
    };
    const subjectEvents = async (p: BraidProcess, n: number) => {
      const a = await call(`${p.url}/v1/subjects/${keyOf(n)}/events`);
      expect(a.status, a.text).toBe(200);
      return a.text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as { id: string; key?: string; counted?: boolean });
    };
    /** events counted per subject, by source: one row per key, the whole time range */
    const countsBy = async (p: BraidProcess, source: string) => {
      const body = await json<{ rows: Array<{ key: string; n: number }> }>(`${p.url}/v1/views/by_key?source=${source}&granularity=all&group_by=key&limit=100000`);
      return Object.fromEntries(body.rows.filter((r) => r.n > 0).map((r) => [r.key, r.n]));
    };

    // --- 1. The first process: a few hundred events of eight subjects, retries among them, and a batch run.
    const rng = new Rng(2024);
    const sentIds = new Map<number, Set<string>>(); // per subject, the distinct ids sent (each counts once)
    let seq = 0;
    const now = Date.now();
    const batches: unknown[][] = [];
    for (let b = 0; b < 30; b++) {
      const batch = Array.from({ length: 12 }, () => {
        const n = rng.int(1, SUBJECTS);
        const id = `ev-${seq++}`;
        if (!sentIds.has(n)) sentIds.set(n, new Set());
        sentIds.get(n)!.add(id);
        return { id, type: rng.pick(TYPES), time: now - rng.int(0, 20 * 60_000), key: keyOf(n), data: { note: markOf(n), amount: rng.int(1, 100) } };
      });
      batches.push(batch);
    }
    for (let n = 1; n <= SUBJECTS; n++) expect(sentIds.get(n)?.size ?? 0, `subject ${n} sends events`).toBeGreaterThan(0);

    let p = await start();
    const send = async (batch: unknown[]) => {
      const a = await call(`${p.url}/v1/events`, 'POST', batch);
      expect(a.status, a.text).toBe(202);
    };
    for (const [i, batch] of batches.entries()) {
      await send(batch);
      if (i % 7 === 3) await send(rng.pick(batches.slice(0, i + 1))); // a retry: the same events again, dropped by the dedupe rule
      if (i === 20) await runBatch(p); // records after the version too: in the speed layer only
    }
    await runBatch(p);
    const expected = (erased: readonly number[]) =>
      Object.fromEntries([...sentIds].filter(([n]) => !erased.includes(n)).map(([n, ids]) => [keyOf(n), ids.size]));
    expect(await countsBy(p, 'lambda'), 'before any erasure').toEqual(expected([]));
    for (const { subject } of KILLS) expect((await subjectEvents(p, subject)).length, `subject ${subject} has stored events`).toBeGreaterThan(0);

    // --- 2. Three erasures, each killed at its point, each resumed by the next process.
    const observed: string[] = [];
    const erased: number[] = [];
    for (const point of KILLS) {
      const requested = await json<ErasureInfo>(`${p.url}/v1/subjects/${keyOf(point.subject)}`, 'DELETE', undefined, 202);
      expect(requested.state).toMatch(/^(queued|running)$/);
      let seen: ErasureInfo = requested;
      if (point.stepsDone > 0) {
        seen = await until(`erasure of ${keyOf(point.subject)} reaching ${point.stepsDone} steps`, () => job(p, requested.id), (j) => j.progress.stepsDone >= point.stepsDone || j.state === 'completed' || j.state === 'failed', WAIT_MS, 2);
      }
      await kill(p);
      const file = await onDisk(requested.id);
      const running = Object.entries(file.progress.stores).filter(([, s]) => s.state === 'running').map(([k]) => k);
      // A save cut short by the kill leaves its temp file (<id>.json.<pid>.tmp) beside the job's file.
      const temps = (await readdir(path.join(dataDir, 'erasures'))).filter((n) => n.endsWith('.tmp'));
      const tempStates = await Promise.all(temps.map(async (n) => {
        const text = await readFile(path.join(dataDir, 'erasures', n), 'utf8');
        let t: (ErasureInfo & { key?: string }) | undefined;
        try {
          t = JSON.parse(text) as ErasureInfo & { key?: string };
        } catch {
          return `${n} (${text.length} bytes, not whole)`;
        }
        return `${n} (${t.state} ${t.progress.stepsDone}/${t.progress.stepsTotal}${t.key === undefined ? '' : `, key ${t.key}`})`;
      }));
      observed.push(
        `${point.label}: API ${seen.state} ${seen.progress.stepsDone}/${seen.progress.stepsTotal}; file ${file.state} ${file.progress.stepsDone}/${file.progress.stepsTotal}${running.length ? ` (running ${running.join(', ')})` : ''}${temps.length ? `; temp files left: ${tempStates.join(', ')}` : ''}`,
      );
      expect(seen.state, `${point.label}: the job finished before the kill`).not.toMatch(/completed|failed/);
      expect(file.state, `${point.label}: ${JSON.stringify(file)}`).toMatch(/^(queued|running)$/);
      expect(file.key, 'a job not completed keeps its subject, to resume').toBe(keyOf(point.subject));

      // The restart: the same job resumes and completes.
      p = await start();
      const done = await until(`erasure ${requested.id} after the restart`, () => job(p, requested.id), (j) => j.state === 'completed' || j.state === 'failed');
      expect(done.state, `${done.error} ${JSON.stringify(done.progress)}`).toBe('completed');
      expect(done.id).toBe(requested.id);
      expect(done.progress.stepsDone).toBe(done.progress.stepsTotal);
      expect(Object.values(done.progress.stores).every((s) => s.state === 'done'), JSON.stringify(done.progress)).toBe(true);
      expect((await onDisk(requested.id)).key, 'a completed job forgets its subject').toBeUndefined();
      erased.push(point.subject);
      expect(await subjectEvents(p, point.subject), `${keyOf(point.subject)} after its erasure`).toEqual([]);
      expect(await countsBy(p, 'lambda'), `lambda after erasing ${erased.map(keyOf).join(', ')}`).toEqual(expected(erased));
    }

    // --- 3. After the last restart: nothing of the erased subjects, everything of the kept ones.
    for (const n of erased) expect(await subjectEvents(p, n), keyOf(n)).toEqual([]);
    const kept4 = await subjectEvents(p, 4);
    expect(new Set(kept4.filter((e) => e.counted).map((e) => e.id)), `${keyOf(4)} kept, each event counted once`).toEqual(sentIds.get(4));
    expect(kept4.filter((e) => e.counted)).toHaveLength(sentIds.get(4)!.size);
    for (const source of ['lambda', 'batch', 'kappa']) expect(await countsBy(p, source), `${source} after the erasures`).toEqual(expected(erased));
    const totals = await json<{ rows: Array<{ events: number; subjects: number; notes: number }> }>(`${p.url}/v1/views/totals?granularity=all&limit=100000`);
    const keptEvents = Object.values(expected(erased)).reduce((a, b) => a + b, 0);
    expect(totals.rows).toHaveLength(1);
    expect(totals.rows[0]).toMatchObject({ events: keptEvents, subjects: SUBJECTS - erased.length, notes: SUBJECTS - erased.length });
    const verificationStart = await json<{ id: string }>(`${p.url}/v1/verification`, 'POST', undefined, 202);
    const verification = await until(
      'the verification',
      () => json<{ state: string; error?: string; ok: boolean | null; mismatchingRows: number; viewsChecked: number }>(`${p.url}/v1/verification/${verificationStart.id}`),
      (v) => v.state !== 'running',
    );
    expect(verification.state, verification.error).toBe('succeeded');
    expect(verification).toMatchObject({ ok: true, mismatchingRows: 0, viewsChecked: views.length });

    // --- 4. Stopped cleanly, the data directory is searched.
    p.child.kill('SIGTERM');
    expect(await p.exited, p.output()).toBe(0);
    const gone = erased.flatMap((n) => [keyOf(n), markOf(n)]);
    const present = [4, 5, 8].flatMap((n) => [keyOf(n), markOf(n)]);
    const log = await EmbeddedLog.open({ dir: path.join(dataDir, 'log'), partitions: PARTITIONS });
    const { found, parquetFiles } = await searchStores(dataDir, log, [...gone, ...present]).finally(() => log.close());
    expect(parquetFiles, 'the archive and a batch version are Parquet').toBeGreaterThan(0);
    const leaks = Object.fromEntries(gone.filter((m) => found.has(m)).map((m) => [m, [...new Set(found.get(m)!.map((w) => w.replace(dataDir, '')))]]));
    expect(leaks, `erased markers found under the data directory (kills: ${observed.join('; ')})`).toEqual({});
    for (const m of present) expect(found.get(m)?.length ?? 0, `kept marker ${m} not found anywhere`).toBeGreaterThan(0);
    // The kept markers are in every kind of store: the log, the archive (Parquet), a batch version (Parquet).
    for (const [store, how] of [['log', '(bytes)'], ['archive', '(decoded)'], ['batch', '(decoded)']] as const) {
      const inStore = (w: string) => path.relative(dataDir, w).split(path.sep)[0] === store && w.endsWith(how);
      expect(found.get(keyOf(4))?.some(inStore), `${keyOf(4)} in the ${store} ${how}: ${found.get(keyOf(4))?.join('\n')}`).toBe(true);
    }
  }, 120_000);
});
