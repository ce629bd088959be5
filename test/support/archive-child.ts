/**
 * An archiver in a process of its own, for the SIGKILL tests (test/integration/archive-kill.test.ts).
 *
 *   node --import tsx test/support/archive-child.ts kafka <archiveDir> <brokers> <topic> <partitions>
 *     archives the topic (which the test appends to).
 *   node --import tsx test/support/archive-child.ts embedded <archiveDir> <logDir> <partitions> <seed>
 *     owns an embedded log (one process at a time), appends demo events to it and archives it.
 *
 * Prints "ready" once archiving, then one JSON line of ArchiveProgress per flush. SIGTERM
 * stops it gracefully (exit 0). Small flushes and an eager compaction make the kills land
 * in every phase: writing, renaming, replacing the manifest, merging, deleting.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Archiver } from '../../batch/archive/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog } from '../../shared/log/types.js';

const [mode, dir, source, third, fourth] = process.argv.slice(2);
if ((mode !== 'kafka' && mode !== 'embedded') || !dir || !source || !third || !fourth) {
  throw new Error('usage: archive-child.ts kafka <archiveDir> <brokers> <topic> <partitions> | embedded <archiveDir> <logDir> <partitions> <seed>');
}

const log: EventLog =
  mode === 'kafka'
    ? await KafkaLog.open({ brokers: source.split(','), topic: third, partitions: Number(fourth), clientId: 'braid-archive-child' })
    : await EmbeddedLog.open({ dir: source, partitions: Number(third) });

const archiver = await Archiver.create({
  log,
  dir,
  flushRecords: 300,
  flushIntervalMs: 50,
  compactMinFiles: 4,
  compactTargetRecords: 20_000,
  onProgress: (progress) => process.stdout.write(`${JSON.stringify(progress)}\n`),
});
archiver.start();
process.stdout.write('ready\n');

let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
  void archiver
    .stop()
    .then(() => log.close())
    .then(() => process.exit(0));
});

if (mode === 'embedded') {
  const generator = new DemoGenerator({ seed: Number(fourth) });
  while (!stopping) {
    await log.append(generator.records(20 + Math.floor(Math.random() * 60), Date.now()));
    await sleep(Math.floor(Math.random() * 5));
  }
}
