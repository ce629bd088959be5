/**
 * A process that owns an embedded log, for the crash and lock tests
 * (test/integration/embedded-log-crash.test.ts). Usage:
 *
 *   node --import tsx test/support/embedded-log-child.ts hold <dir> <partitions>
 *     opens the log, prints "ready <pid>", and waits to be killed.
 *   node --import tsx test/support/embedded-log-child.ts append <dir> <partitions> <tag>
 *     appends from several concurrent loops and prints one JSON line per acknowledged call:
 *     {"ids": [...], "at": [[partition, offset], ...]}.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';

const [mode, dir, partitions, tag] = process.argv.slice(2);
if (!dir || !partitions) throw new Error('usage: embedded-log-child.ts hold|append <dir> <partitions> [tag]');

// Small segments, so that kills also land around segment rolls.
const log = await EmbeddedLog.open({ dir, partitions: Number(partitions), segmentBytes: 16 * 1024, indexIntervalBytes: 1024 });

if (mode === 'hold') {
  process.stdout.write(`ready ${process.pid}\n`);
  setInterval(() => undefined, 60_000);
} else {
  const workers = 4;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let seq = 0; ; seq++) {
        const ids = Array.from({ length: 1 + randomInt(40) }, (_, i) => `${tag}-${w}-${seq}-${i}`);
        const appended = await log.append(
          ids.map((id) => {
            const pad = randomBytes(randomInt(300)).toString('hex');
            return { key: `key-${randomInt(50)}`, value: Buffer.from(JSON.stringify({ id, pad, padLength: pad.length })) };
          }),
        );
        // Pipes are written synchronously on Linux: once this returns, the parent can read it.
        process.stdout.write(`${JSON.stringify({ ids, at: appended.map((a) => [a.partition, a.offset]) })}\n`);
      }
    }),
  );
}
