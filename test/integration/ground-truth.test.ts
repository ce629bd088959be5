/**
 * The batch layer's ground-truth acceptance test: seeded awkward events go in over HTTP,
 * batch runs complete, and every view — at several granularities, group-bys, filters and
 * ranges — equals an independent reference computed here from the log itself (its
 * partitions, offsets and append times), with neither the production fold nor its SQL.
 * Lambda and speed answers are held to the same reference at their own positions. Run on
 * the embedded log (one and three partitions) and on Kafka (four).
 *
 * Reproduce a failure with GROUND_TRUTH_SEED=<the printed seed>; GROUND_TRUTH_STATS=1
 * prints what was compared.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { Position } from '../../shared/log/types.js';
import { makeTestApp, total, type TestApp } from '../support/app.js';
import { topicsPerFile } from '../support/archive-fixtures.js';
import { expectRowsMatch, expectSameOrder, isOrdered, referenceAnswer, referenceRows, survivors, type RefRecord, type RefView } from '../support/reference.js';
import { TestEvents } from '../support/events.js';
import { GT_T0, groundTruthFilters, groundTruthViews, type GtEvent } from '../support/ground-truth-events.js';
import { LogMirror, expectDistinctMatch, expectSameAnswer, logCases, queriesFor, queryUrl, withoutDistinct } from '../support/ground-truth-check.js';

const SEED = Number(process.env.GROUND_TRUTH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const WINDOW = '2s';
const WINDOW_MS = 2_000;
/** Longer than the window, so ids sent again after it count again. */
const PAUSE_MS = WINDOW_MS + 500;

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const views: readonly RefView[] = groundTruthViews;

const variants = [
  { log: 'embedded log, 1 partition', partitions: 1, settings: (): Record<string, unknown> => ({}) },
  { log: 'embedded log, 3 partitions', partitions: 3, settings: (): Record<string, unknown> => ({ log: { partitions: 3 } }) },
  {
    log: 'Kafka, 4 partitions',
    partitions: 4,
    settings: (): Record<string, unknown> => ({ log: { partitions: 4, kafka: { brokers, topic: newTopic('braid-ground-truth') } } }),
  },
];

const stats = { queries: 0, rows: 0, events: 0 };

describe.each(variants)('the views on the $log', ({ partitions, settings }) => {
  let t: TestApp;
  const gen = new TestEvents(SEED);
  const mirror = new LogMirror();
  const sent: GtEvent[][] = [];
  let S1: Position;
  /** the speed layer's answers (no batch version yet) at the position run 1 takes as S */
  const speedAtS1 = new Map<string, Array<Record<string, unknown>>>();

  beforeAll(async () => {
    t = await makeTestApp(
      { ...settings(), views: groundTruthViews, dedupe: { window: WINDOW }, archive: { flushIntervalMs: 100 } },
      { roles: true },
    );
    await t.handle.ready;
  });
  afterAll(() => t?.close());
  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => console.error(`ground truth: seed ${SEED}; rerun with GROUND_TRUTH_SEED=${SEED}`));
  });

  async function post(events: GtEvent[]): Promise<void> {
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(events),
    });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ accepted: events.length });
    sent.push(events);
    stats.events += events.length;
  }

  /** Waits until the speed layer has folded the whole log; returns the log's end and its records. */
  async function settle(): Promise<{ end: Position; records: RefRecord[] }> {
    const end = await t.log().endPosition();
    await t.node!.speed!.waitFor(end);
    return { end, records: await mirror.readTo(t.log(), end) };
  }

  async function runBatch(): Promise<Position> {
    const started = await t.app.inject({ method: 'POST', url: '/v1/batch/runs' });
    expect(started.statusCode, started.body).toBe(202);
    const run = await t.node!.batch!.wait(started.json().id);
    expect(run.state, run.error).toBe('succeeded');
    return run.snapshot!;
  }

  /**
   * Asks every query of every view from `source` and compares the rows with the reference
   * over `counted` (the records that source covers); the answer must name `position`.
   * `depth` picks the queries (see queriesFor); `answers`, when given, collects the rows by query.
   */
  async function expectViewsMatch(
    source: 'batch' | 'lambda' | 'speed',
    position: Position,
    counted: readonly RefRecord[],
    label: string,
    { batch, depth = 'full', answers }: { batch?: Position | null; depth?: 'full' | 'light'; answers?: Map<string, Array<Record<string, unknown>>> } = {},
  ) {
    for (const view of views) {
      const queries = queriesFor(view, GT_T0, groundTruthFilters[view.name]!, depth);
      for (const q of queries) {
        const url = queryUrl(view.name, q, source);
        const context = `${label} (seed ${SEED}) GET ${decodeURIComponent(url)}`;
        const res = await t.app.inject({ url });
        expect(res.statusCode, `${context}: ${res.body}`).toBe(200);
        const body = res.json();
        expect(body.position, `${context}: position`).toEqual(position);
        if (batch !== undefined) expect(body.batch?.snapshot ?? null, `${context}: batch snapshot`).toEqual(batch);
        const groupBy = q.groupBy ?? view.dimensions ?? [];
        let expected = referenceRows(view, counted, q);
        if (isOrdered(q)) {
          const answer = referenceAnswer(view, counted, q);
          expect(body.groups, `${context}: groups`).toBe(answer.groups);
          expect(body.truncated, `${context}: truncated`).toBe((q.offset ?? 0) + (q.limit ?? 100_000) < answer.groups);
          expectSameOrder(body.rows, answer.rows, groupBy, context);
          expected = answer.rows;
        } else {
          expect(body.groups, `${context}: groups`).toBe(expected.length);
        }
        expectRowsMatch(withoutDistinct(view), body.rows, expected, groupBy, context);
        expectDistinctMatch(view, body.rows, expected, groupBy, context);
        answers?.set(queryUrl(view.name, q, 'lambda'), body.rows);
        stats.queries++;
        stats.rows += body.rows.length;
      }
    }
  }

  it('answers from the speed layer alone, before any batch run, as the reference does', async () => {
    const first = gen.fresh(500, GT_T0);
    // a retry inside the same request: the same append batch
    await post(gen.shuffle([...first, ...gen.retries(first, 20)]));
    // retries in the next request, well inside the window; other content; other keys
    await post(gen.shuffle([...gen.fresh(300, GT_T0), ...gen.retries(first, 40), ...gen.changedFrom(first, 15, GT_T0), ...gen.rekeyedFrom(first, 15)]));
    const { end, records } = await settle();
    await expectViewsMatch('lambda', end, survivors(records, end, WINDOW_MS), 'before any run', { batch: null, depth: 'light' });
  });

  it('counts an id again once the window has passed, and not a retry inside it', async () => {
    await sleep(PAUSE_MS);
    const earlier = sent.flat();
    const resent = [...gen.retries(earlier, 40), ...gen.changedFrom(earlier, 20, GT_T0)];
    await post(gen.shuffle([...gen.fresh(400, GT_T0, 0.3), ...resent]));
    await post(gen.shuffle([...gen.fresh(200, GT_T0), ...gen.retries(resent, 20), ...gen.rekeyedFrom(resent, 10), ...gen.changedFrom(sent.at(-1)!, 10, GT_T0)]));
    const { end, records } = await settle();
    const alive = survivors(records, end, WINDOW_MS);
    const cases = logCases(records, alive, GT_T0);
    if (process.env.GROUND_TRUTH_STATS) console.info(`ground truth (${partitions} partitions): log cases`, cases);
    expect(cases.duplicates, 'duplicates inside the window').toBeGreaterThan(50);
    expect(cases.recountedAfterWindow, 'ids counted again after the window').toBeGreaterThan(30);
    expect(cases.late, 'late events').toBeGreaterThan(100);
    if (partitions > 1) expect(cases.idsInSeveralPartitions, 'ids in several partitions').toBeGreaterThan(5);
    await expectViewsMatch('lambda', end, alive, 'after the window', { batch: null, answers: speedAtS1 });
  });

  it('computes every view in a batch run equal to the reference below its snapshot', async () => {
    S1 = await runBatch();
    const { end, records } = await settle();
    expect(S1).toEqual(end); // nothing was posted during the run
    const alive = survivors(records, S1, WINDOW_MS);
    const batchAtS1 = new Map<string, Array<Record<string, unknown>>>();
    await expectViewsMatch('batch', S1, alive, 'batch run 1', { batch: S1, answers: batchAtS1 });
    // DuckDB over the archive and the speed layer's fold over the log, on the same records.
    expect(batchAtS1.size).toBe(speedAtS1.size);
    for (const [url, rows] of batchAtS1) {
      const view = views.find((v) => url.startsWith(`/v1/views/${v.name}?`))!;
      expectSameAnswer(view, rows, speedAtS1.get(url)!, `batch run 1 vs the speed layer before it (seed ${SEED}) ${decodeURIComponent(url)}`);
    }
    await expectViewsMatch('lambda', end, alive, 'lambda after run 1', { batch: S1, depth: 'light' });
  });

  it('merges batch and speed into the reference after more events, retries and late ones', async () => {
    const earlier = sent.flat();
    await post(gen.shuffle([...gen.fresh(300, GT_T0, 0.4), ...gen.retries(sent.at(-1)!, 30), ...gen.retries(earlier, 30), ...gen.rekeyedFrom(earlier, 10)]));
    await post(gen.shuffle([...gen.fresh(100, GT_T0), ...gen.retries(sent.at(-1)!, 20), ...gen.changedFrom(sent.at(-1)!, 10, GT_T0)]));
    const { end, records } = await settle();
    expect(total(end)).toBeGreaterThan(total(S1));
    const alive = survivors(records, end, WINDOW_MS);
    await expectViewsMatch('lambda', end, alive, 'lambda after run 1 and more events', { batch: S1 });
    const sinceS1 = alive.filter((r) => r.offset >= (S1[r.partition] ?? 0));
    await expectViewsMatch('speed', end, sinceS1, 'speed after run 1', { batch: S1, depth: 'light' });
    // the batch version still answers for S1 alone
    await expectViewsMatch('batch', S1, survivors(records, S1, WINDOW_MS), 'batch run 1 after more events', { batch: S1, depth: 'light' });
  });

  it('recomputes every view in a second run over the whole archive', async () => {
    const S2 = await runBatch();
    const { end, records } = await settle();
    expect(S2).toEqual(end);
    const alive = survivors(records, S2, WINDOW_MS);
    await expectViewsMatch('batch', S2, alive, 'batch run 2', { batch: S2 });
    await expectViewsMatch('lambda', end, alive, 'lambda after run 2', { batch: S2, depth: 'light' });
    await expectViewsMatch('speed', end, [], 'speed after run 2', { batch: S2, depth: 'light' });
  });
});

afterAll(() => {
  if (process.env.GROUND_TRUTH_STATS) console.info(`ground truth (seed ${SEED}):`, stats);
});
