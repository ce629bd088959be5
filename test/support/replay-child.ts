/**
 * A Kappa replay in a process of its own, for the SIGKILL test of checkpoints
 * (test/integration/replay-checkpoint.test.ts):
 *
 *   node --import tsx test/support/replay-child.ts <logDir> <partitions> <checkpointDir> <checkpointRecords>
 *
 * Opens the embedded log, replays it to its end with checkpoints, and prints one JSON line
 * of progress per read batch (small batches, so kills land while folding and while a
 * checkpoint is written), then "done".
 */
import { pino } from 'pino';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { Replayer } from '../../speed/replay.js';
import { replayViews, REPLAY_WINDOW_MS } from './replay-views.js';

const [logDir, partitions, checkpointDir, every] = process.argv.slice(2);
if (!logDir || !partitions || !checkpointDir || !every) throw new Error('usage: replay-child.ts <logDir> <partitions> <checkpointDir> <checkpointRecords>');

const log = await EmbeddedLog.open({ dir: logDir, partitions: Number(partitions) });
const replayer = new Replayer({ log, views: replayViews, dedupeWindowMs: REPLAY_WINDOW_MS, checkpointDir, checkpointRecords: Number(every), maxBatch: 200, logger: pino({ level: 'silent' }) });
const info = await replayer.start();
const timer = setInterval(() => {
  const now = replayer.getReplay(info.id);
  if (now) process.stdout.write(`${JSON.stringify({ records: now.progress.records, total: now.progress.total, checkpoint: now.progress.checkpoint?.position ?? null })}\n`);
}, 5);
const done = await replayer.wait(info.id);
clearInterval(timer);
if (done.info.state !== 'succeeded') throw new Error(`replay failed: ${done.info.error}`);
process.stdout.write('done\n');
await replayer.close();
await log.close();
