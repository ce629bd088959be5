import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { Archiver, readManifest } from '../../batch/archive/index.js';
import type { ArchiveProgress, Manifest } from '../../batch/archive/index.js';
import { DemoGenerator } from '../../shared/demo/generator.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { KafkaLog } from '../../shared/log/kafka/index.js';
import type { EventLog, Position } from '../../shared/log/types.js';
import { tempDirPerTest, topicsPerFile } from '../support/archive-fixtures.js';
import { expectArchived, expectContiguous } from '../support/archive-read.js';

const brokers = inject('kafkaBrokers').split(',');
const newTopic = topicsPerFile(brokers);
const child = fileURLToPath(new URL('../support/archive-child.ts', import.meta.url));
const PARTITIONS = 3;

/** A running archive-child.ts: its "ready" and progress lines, and its exit. */
interface Child {
  readonly process: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<number | null>;
  /** resolves with the first progress whose position covers `target` */
  covering(target: Position): Promise<ArchiveProgress>;
  stderr(): string;
}

function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const lines = createInterface({ input: proc.stdout! });
  const watchers: { target: Position; resolve: (p: ArchiveProgress) => void }[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    void exited.then((code) => reject(new Error(`archive child exited (${code}) before it was ready: ${stderr}`)));
    lines.on('line', (line) => {
      if (line === 'ready') return resolve();
      const progress = JSON.parse(line) as ArchiveProgress;
      for (const w of watchers.filter((w) => covered(progress.position, w.target))) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(progress);
      }
    });
  });
  ready.catch(() => undefined);
  return {
    process: proc,
    ready,
    exited,
    covering: (target) => new Promise((resolve) => watchers.push({ target, resolve })),
    stderr: () => stderr,
  };
}

function covered(position: Position, target: Position): boolean {
  return Object.entries(target).every(([p, offset]) => (position[Number(p)] ?? 0) >= offset);
}

/**
 * What must hold after every kill: the manifest (if any) is whole, its ranges contiguous
 * from 0, every listed file there with its size, and nothing archived beyond the log.
 */
async function expectConsistent(dir: string, end: Position): Promise<Manifest | undefined> {
  const manifest = await readManifest(dir);
  if (!manifest) return undefined;
  const position = expectContiguous(manifest);
  for (const [p, offset] of Object.entries(position)) expect(offset).toBeLessThanOrEqual(end[Number(p)]!);
  for (const f of manifest.files) expect((await stat(path.join(dir, f.path))).size, f.path).toBe(f.bytes);
  return manifest;
}

/** Kills the child at a random moment: mostly while archiving, sometimes while it starts up. */
async function killAtRandom(c: Child): Promise<'startup' | 'running'> {
  let phase: 'startup' | 'running' = 'startup';
  if (randomInt(5) === 0) {
    await Promise.race([sleep(randomInt(1_200)), c.exited]);
  } else {
    await Promise.race([c.ready, c.exited]);
    phase = 'running';
    await Promise.race([sleep(50 + randomInt(1_000)), c.exited]);
  }
  c.process.kill('SIGKILL');
  const code = await c.exited;
  // null: killed by the signal. Anything else means the child died by itself.
  expect(code, c.stderr()).toBe(null);
  return phase;
}

/** Reads the whole archive and the log below `end`, and compares them record by record. */
async function expectExactlyTheLog(dir: string, log: EventLog, end: Position): Promise<void> {
  const manifest = (await readManifest(dir))!;
  expect(expectContiguous(manifest)).toEqual(end);
  await expectArchived(manifest.files.map((f) => path.join(dir, f.path)), log, end);
}

describe('archive under SIGKILL', () => {
  const root = tempDirPerTest('braid-archive-kill-');

  it('keeps every Kafka record exactly once across 22 kills while the topic grows', { timeout: 150_000 }, async () => {
    const topic = newTopic('braid-archive-kill');
    const dir = path.join(root(), 'archive');
    const log = await KafkaLog.open({ brokers, topic, partitions: PARTITIONS, clientId: 'braid-archive-kill-test' });
    const generator = new DemoGenerator({ seed: 11 });
    let appending = true;
    const appender = (async () => {
      while (appending) {
        await log.append(generator.records(40 + randomInt(80), Date.now()));
        await sleep(randomInt(15));
      }
    })();

    try {
      const phases: string[] = [];
      let archivedDuringKills = 0;
      for (let kill = 0; kill < 22; kill++) {
        const c = startChild(['kafka', dir, brokers.join(','), topic, String(PARTITIONS)]);
        phases.push(await killAtRandom(c));
        const manifest = await expectConsistent(dir, await log.endPosition());
        archivedDuringKills = manifest ? manifest.files.reduce((sum, f) => sum + f.records, 0) : 0;
      }
      appending = false;
      await appender;
      const end = await log.endPosition();

      // The last run catches up and stops gracefully.
      const last = startChild(['kafka', dir, brokers.join(','), topic, String(PARTITIONS)]);
      await Promise.race([
        last.covering(end),
        last.exited.then((code) => Promise.reject(new Error(`the last archive child exited (${code}) before catching up: ${last.stderr()}`))),
      ]);
      last.process.kill('SIGTERM');
      expect(await last.exited, last.stderr()).toBe(0);

      expect(phases.filter((p) => p === 'running').length).toBeGreaterThanOrEqual(10);
      expect(archivedDuringKills).toBeGreaterThan(0); // the killed runs made progress, not only the last one
      await expectExactlyTheLog(dir, log, end);
    } finally {
      appending = false;
      await appender.catch(() => undefined);
      await log.close();
    }
  });

  it('keeps every embedded-log record exactly once when the process that appends and archives is killed', { timeout: 90_000 }, async () => {
    const dir = path.join(root(), 'archive');
    const logDir = path.join(root(), 'log');
    for (let kill = 0; kill < 8; kill++) {
      const c = startChild(['embedded', dir, logDir, String(PARTITIONS), String(kill + 1)]);
      await killAtRandom(c);
      // The embedded log takes over the dead process's lock; open it only to look.
      const log = await EmbeddedLog.open({ dir: logDir, partitions: PARTITIONS });
      try {
        await expectConsistent(dir, await log.endPosition());
      } finally {
        await log.close();
      }
    }

    const log = await EmbeddedLog.open({ dir: logDir, partitions: PARTITIONS });
    try {
      const end = await log.endPosition();
      const archiver = await Archiver.create({ log, dir });
      const resumedAt = archiver.position();
      archiver.start();
      await archiver.waitFor(end);
      await archiver.stop();
      expect(Object.values(resumedAt).some((offset) => offset > 0)).toBe(true);
      await expectExactlyTheLog(dir, log, end);
    } finally {
      await log.close();
    }
  });
});
