/**
 * Kappa replay beside batch recomputation over the same events (issue 5): fills an embedded
 * log with N demo events, archives it, then times (1) a batch run of the demo views in
 * DuckDB over the archive and (2) a Kappa replay of the same log through the speed layer's
 * fold — and checks that both computed the same answers before it reports a rate.
 *
 *   node --import tsx bench/replay.ts [events=1000000] [partitions=1]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { Archiver } from '../batch/archive/index.js';
import { BatchRunner } from '../batch/recompute/index.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { defaultEventLimits, encodeEvent, recordKey, validateEvents } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';
import { compileView, parseViews, viewKey } from '../shared/views/index.js';
import { Replayer } from '../speed/replay.js';
import { compareView, mergeRows } from '../lambda/index.js';

const events = Number(process.argv[2] ?? 1_000_000);
const partitions = Number(process.argv[3] ?? 1);
const config = parse(await readFile(new URL('../braid.yaml', import.meta.url), 'utf8')) as { views: unknown[] };
const views = parseViews(config.views).map(compileView);
const root = await mkdtemp(path.join(tmpdir(), 'braid-bench-replay-'));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);

try {
  const log = await EmbeddedLog.open({ dir: path.join(root, 'log'), partitions });
  const generator = new DemoGenerator({ seed: 1 });
  let t = performance.now();
  for (let done = 0; done < events; done += 5_000) {
    const now = Date.now();
    const result = validateEvents(generator.batch(Math.min(5_000, events - done), now), defaultEventLimits, now);
    if (!result.ok) throw new Error('invalid demo events');
    await log.append(result.events.map((e) => ({ key: recordKey(e), value: encodeEvent(e) })));
  }
  const end = await log.endPosition();
  console.log(`filled ${events} events in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const archiver = await Archiver.create({ log, dir: path.join(root, 'archive') });
  archiver.start();
  await archiver.waitFor(end);
  console.log(`archived in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const runner = await BatchRunner.create({ dataDir: root, views, dedupeWindowMs: 86_400_000, archive: archiver, snapshotPosition: async () => end });
  peak = 0;
  t = performance.now();
  const run = await runner.wait(runner.start('cli').id);
  const batchSeconds = (performance.now() - t) / 1000;
  const batchPeak = peak;
  if (run.state !== 'succeeded') throw new Error(`batch run failed: ${run.error}`);

  const replayer = new Replayer({ log, views, dedupeWindowMs: 86_400_000 });
  peak = 0;
  t = performance.now();
  const replay = await replayer.wait((await replayer.start(end)).id);
  const replaySeconds = (performance.now() - t) / 1000;
  const replayPeak = peak;
  if (replay.info.state !== 'succeeded') throw new Error(`replay failed: ${replay.info.error}`);

  // A fast wrong answer is not a result: both sides must agree, view by view.
  const version = runner.current()!;
  let rows = 0;
  for (const view of views) {
    const c = compareView(view, mergeRows(view, [version.tables.get(view.def.name)!.rows()]), mergeRows(view, [replay.tables!.get(viewKey(view))!.rows()]));
    if (!c.ok) throw new Error(`batch and replay differ on ${view.def.name}: ${JSON.stringify(c.examples.slice(0, 2))}`);
    rows += c.rowsCompared;
  }
  console.log(`batch and replay agree on ${views.length} views, ${rows} rows`);
  console.log(
    JSON.stringify(
      {
        events,
        partitions,
        batch: { seconds: Number(batchSeconds.toFixed(2)), eventsPerSecond: Math.round(events / batchSeconds), peakRss: mib(batchPeak) },
        replay: { seconds: Number(replaySeconds.toFixed(2)), eventsPerSecond: Math.round(events / replaySeconds), peakRss: mib(replayPeak) },
      },
      null,
      2,
    ),
  );
  await replayer.close();
  await runner.close();
  await archiver.stop();
  await log.close();
} finally {
  clearInterval(sampler);
  await rm(root, { recursive: true, force: true });
}
