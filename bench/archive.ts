/**
 * Archiver throughput: fills an embedded log with demo events (in a child process, so that
 * the peak RSS printed is the archiver's alone), then archives it from scratch with the
 * default options and prints records/s, files, bytes and peak RSS.
 *
 *   node --import tsx bench/archive.ts [events=1000000] [partitions=1]
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Archiver, defaultArchiverOptions } from '../batch/archive/index.js';
import { DemoGenerator } from '../shared/demo/generator.js';
import { defaultEventLimits, encodeEvent, recordKey, validateEvents } from '../shared/events/index.js';
import { EmbeddedLog } from '../shared/log/embedded/index.js';

const APPEND_BATCH = 5_000; // events per append call

if (process.argv[2] === 'fill') {
  const [dir, events, partitions] = process.argv.slice(3);
  await fill(dir!, Number(events), Number(partitions));
} else {
  await bench(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? 1));
}

async function fill(dir: string, events: number, partitions: number): Promise<void> {
  const log = await EmbeddedLog.open({ dir, partitions });
  const generator = new DemoGenerator({ seed: 1 });
  for (let done = 0; done < events; done += APPEND_BATCH) {
    const now = Date.now();
    const result = validateEvents(generator.batch(Math.min(APPEND_BATCH, events - done), now), defaultEventLimits, now);
    if (!result.ok) throw new Error('the demo generator made invalid events');
    await log.append(result.events.map((e) => ({ key: recordKey(e), value: encodeEvent(e) })));
  }
  await log.close();
}

async function bench(events: number, partitions: number): Promise<void> {
  const root = await mkdtemp(path.join(tmpdir(), 'braid-bench-archive-'));
  try {
    const logDir = path.join(root, 'log');
    let started = performance.now();
    execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'fill', logDir, String(events), String(partitions)], { stdio: 'inherit' });
    console.log(`filled an embedded log with ${events.toLocaleString('en')} events in ${partitions} partition(s) in ${seconds(started)} s`);

    const log = await EmbeddedLog.open({ dir: logDir, partitions });
    const end = await log.endPosition();
    let lastLine = 0;
    const archiver = await Archiver.create({
      log,
      dir: path.join(root, 'archive'),
      onProgress: ({ records, lag }) => {
        if (performance.now() - lastLine < 1_000) return;
        lastLine = performance.now();
        console.log(`  ${records.toLocaleString('en')} archived, ${lag?.toLocaleString('en')} behind`);
      },
    });
    started = performance.now();
    archiver.start();
    await archiver.waitFor(end);
    const elapsed = (performance.now() - started) / 1_000;
    const caughtUp = archiver.stats();
    await archiver.stop();
    await log.close();

    const { flushRecords, compactMinFiles, compactTargetRecords } = defaultArchiverOptions;
    console.log(`archived ${caughtUp.records.toLocaleString('en')} records in ${elapsed.toFixed(2)} s: ${Math.round(caughtUp.records / elapsed).toLocaleString('en')} records/s`);
    console.log(`  options: flushRecords ${flushRecords}, compactMinFiles ${compactMinFiles}, compactTargetRecords ${compactTargetRecords}`);
    console.log(`  when caught up: ${caughtUp.files} files, ${(caughtUp.bytes / 1_048_576).toFixed(1)} MiB, ${caughtUp.compactions} compactions so far`);
    const final = archiver.stats();
    console.log(`  after stop: ${final.files} files, ${(final.bytes / 1_048_576).toFixed(1)} MiB (${(final.bytes / final.records).toFixed(1)} bytes/record), ${final.compactions} compactions`);
    console.log(`  peak RSS of the archiving process: ${(process.resourceUsage().maxRSS / 1_024).toFixed(0)} MiB`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1_000).toFixed(1);
}
