/**
 * Issue 14, part 3: resumable Kappa replays. A replay checkpoints its states and position
 * on disk; a replay killed with SIGKILL at random points resumes from its last checkpoint and
 * ends with the answer of a replay from offset 0; a damaged or foreign checkpoint is not
 * used; a later replay goes on from the last one's end.
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import type { Position } from '../../shared/log/types.js';
import { viewKey } from '../../shared/views/index.js';
import { Replayer, type Replay } from '../../speed/replay.js';
import { tableDifferences } from '../support/recompute-compare.js';
import { replayViews, REPLAY_WINDOW_MS } from '../support/replay-views.js';

const child = fileURLToPath(new URL('../support/replay-child.ts', import.meta.url));
const PARTITIONS = 3;
let dir: string;
let logDir: string;
let checkpointDir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'braid-replay-'));
  logDir = path.join(dir, 'log');
  checkpointDir = path.join(dir, 'replay');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function append(n: number, seed: number): Promise<void> {
  const log = await EmbeddedLog.open({ dir: logDir, partitions: PARTITIONS });
  const generator = new DemoGenerator({ seed });
  for (let i = 0; i < n; i += 1_000) await log.append(generator.records(Math.min(1_000, n - i), Date.now()));
  await log.close();
}

/** One replay to the log's end in this process; `checkpoints` false: from offset 0, writing nothing. */
async function replay(options: { checkpoints: boolean; windowMs?: number }): Promise<Replay> {
  const log = await EmbeddedLog.open({ dir: logDir, partitions: PARTITIONS });
  try {
    const replayer = new Replayer({
      log,
      views: replayViews,
      dedupeWindowMs: options.windowMs ?? REPLAY_WINDOW_MS,
      logger: pino({ level: 'silent' }),
      ...(options.checkpoints ? { checkpointDir, checkpointRecords: 2_000 } : {}),
    });
    const done = await replayer.wait((await replayer.start()).id);
    expect(done.info.state, done.info.error).toBe('succeeded');
    await replayer.close();
    return done;
  } finally {
    await log.close();
  }
}

function expectSameAnswer(actual: Replay, expected: Replay): void {
  for (const view of replayViews) {
    expect(tableDifferences(actual.tables!.get(viewKey(view))!, expected.tables!.get(viewKey(view))!), view.def.name).toEqual([]);
  }
  expect({ folded: actual.info.progress.folded, duplicates: actual.info.progress.duplicates }).toEqual({
    folded: expected.info.progress.folded,
    duplicates: expected.info.progress.duplicates,
  });
  expect(actual.info.progress.records).toBe(expected.info.progress.records);
}

/** A replay-child.ts killed with SIGKILL once it has covered `fraction` of the log; the last checkpoint it reported. */
async function killedAt(fraction: number, every: number): Promise<Position | null> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, logDir, String(PARTITIONS), checkpointDir, String(every)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let checkpoint: Position | null = null;
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line === 'done') return resolve();
      const p = JSON.parse(line) as { records: number; total: number; checkpoint: Position | null };
      checkpoint = p.checkpoint;
      if (p.records >= fraction * p.total) resolve();
    });
    void exited.then((code) => reject(new Error(`the replay child exited (${code}) before the kill: ${stderr}`)));
  });
  proc.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  return checkpoint;
}

describe('resumable replays', () => {
  it('a replay killed with SIGKILL at random points resumes from its last checkpoint and ends with the answer of one from offset 0', async () => {
    await append(24_000, 5);
    const expected = await replay({ checkpoints: false });
    let checkpointed = 0;
    for (let kill = 0; kill < 4; kill++) {
      // Later kills land further on: each child resumes from what the one before left.
      const checkpoint = await killedAt(0.2 + 0.2 * kill + Math.random() * 0.15, randomInt(1_500, 4_000));
      if (checkpoint) checkpointed++;
    }
    expect(checkpointed, 'no kill came after a checkpoint').toBeGreaterThan(0);
    const resumed = await replay({ checkpoints: true });
    expect(resumed.info.progress.resumedFrom, 'the replay did not go on from a checkpoint').toBeDefined();
    expectSameAnswer(resumed, expected);
  });

  it('does not use a damaged checkpoint, or one written for another dedupe window, and replays from offset 0', async () => {
    await append(6_000, 6);
    const expected = await replay({ checkpoints: false });
    await replay({ checkpoints: true });
    const file = path.join(checkpointDir, 'replay.checkpoint');
    const bytes = await readFile(file);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(file, bytes);
    const afterDamage = await replay({ checkpoints: true });
    expect(afterDamage.info.progress.resumedFrom).toBeUndefined();
    expectSameAnswer(afterDamage, expected);

    const otherWindow = await replay({ checkpoints: true, windowMs: 60_000 });
    expect(otherWindow.info.progress.resumedFrom).toBeUndefined();
  });

  it('does not go on from a checkpoint of another log made anew under the same data directory', async () => {
    await append(4_000, 9);
    await replay({ checkpoints: true });
    await rm(logDir, { recursive: true, force: true });
    await append(5_000, 10); // other events, as many records or more
    const again = await replay({ checkpoints: true });
    expect(again.info.progress.resumedFrom).toBeUndefined();
    expectSameAnswer(again, await replay({ checkpoints: false }));
  });

  it('a later replay goes on from where the last one ended', async () => {
    await append(5_000, 7);
    const first = await replay({ checkpoints: true });
    await append(3_000, 8);
    const later = await replay({ checkpoints: true });
    expect(later.info.progress.resumedFrom).toEqual(first.info.target);
    expectSameAnswer(later, await replay({ checkpoints: false }));
  });
});
