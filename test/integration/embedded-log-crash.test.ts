import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBraidError } from '../../shared/errors.js';
import { EmbeddedLog } from '../../shared/log/embedded/index.js';
import { encodeFrame } from '../../shared/log/embedded/framing.js';
import type { LogRecord } from '../../shared/log/types.js';
import { json, parse, readAll, readRange } from '../support/log-contract.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const childScript = 'test/support/embedded-log-child.ts';

/** Starts the child script; `line(pred)` resolves with the first stdout line matching pred. */
function startChild(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const listeners: (() => void)[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!; // only whole lines count: a line cut by the kill was never acknowledged
    lines.push(...parts);
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = (pred: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find(pred);
        if (found !== undefined) resolve(found);
      };
      listeners.push(check);
      check();
      void exited.then(() => reject(new Error(`child exited before the expected line; stderr: ${stderr}`)));
    });
  const kill = async () => {
    child.kill('SIGKILL');
    await exited;
  };
  return { child, lines, line, kill, exited };
}

describe('embedded log crash safety', () => {
  let dir: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'braid-crash-'));
  });

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps every acknowledged record exactly once across SIGKILLs at random moments', async () => {
    const partitions = 3;
    const acked = new Map<string, string>(); // id -> "partition/offset"

    for (let round = 0; round < 10; round++) {
      const run = startChild(['append', dir, String(partitions), `r${round}`]);
      children.push(run.child);
      await run.line((l) => l.startsWith('{'));
      await new Promise((resolve) => setTimeout(resolve, randomInt(0, 250)));
      await run.kill();
      for (const l of run.lines) {
        const { ids, at } = JSON.parse(l) as { ids: string[]; at: [number, number][] };
        ids.forEach((id, i) => acked.set(id, `${at[i]![0]}/${at[i]![1]}`));
      }
      expect(existsSync(join(dir, 'lock'))).toBe(true); // left behind by the killed child

      const log = await EmbeddedLog.open({ dir, partitions }); // takes over the stale lock
      try {
        const records = await readAll(log);
        checkContiguous(records, await log.endPosition());
        const seen = new Map<string, string>();
        for (const r of records) {
          const value = parse(r) as { id: string; pad: string; padLength: number };
          expect(value.pad.length, `record ${r.partition}/${r.offset}`).toBe(value.padLength);
          expect(seen.has(value.id), `${value.id} appears twice`).toBe(false);
          seen.set(value.id, `${r.partition}/${r.offset}`);
        }
        for (const [id, where] of acked) expect(seen.get(id), `acknowledged ${id}`).toBe(where);
      } finally {
        await log.close();
      }
    }
    expect(acked.size).toBeGreaterThan(0);
  });

  describe.each([
    ['a partial frame', (frame: Buffer) => frame.subarray(0, Math.floor(frame.length * 0.6)), /ends inside a frame/],
    ['a frame with a bad CRC', (frame: Buffer) => flipByte(frame, frame.length - 3), /CRC/],
    ['zeros', () => Buffer.alloc(100), /frame length 0/],
  ])('a torn tail of %s', (_, tail, reason) => {
    it('is truncated on open, and the log appends again at the right offsets', async () => {
      let log = await EmbeddedLog.open({ dir, partitions: 1 });
      await log.append(Array.from({ length: 20 }, (_, i) => ({ key: 'k', value: json({ i }) })));
      await log.close();

      const segment = await lastSegment(join(dir, 'partition-0'));
      const goodBytes = (await stat(segment)).size;
      const torn = tail(encodeFrame({ offset: 20, appendTime: Date.now(), key: 'k', value: json({ i: 20 }) }));
      await appendFile(segment, torn);

      log = await EmbeddedLog.open({ dir, partitions: 1 });
      try {
        expect(log.recovered).toHaveLength(1);
        expect(log.recovered[0]).toMatchObject({ partition: 0, segment, validBytes: goodBytes, truncatedBytes: torn.length });
        expect(log.recovered[0]!.reason).toMatch(reason);
        expect((await stat(segment)).size).toBe(goodBytes);
        expect(await log.endPosition()).toEqual({ 0: 20 });

        const [appended] = await log.append([{ key: 'k', value: json({ i: 'new' }) }]);
        expect(appended!.offset).toBe(20);
        const records = await readAll(log);
        expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 21 }, (_, i) => i));
        expect(parse(records[20]!).i).toBe('new');
      } finally {
        await log.close();
      }
      const again = await EmbeddedLog.open({ dir, partitions: 1 });
      expect(again.recovered).toEqual([]);
      await again.close();
    });
  });

  describe('damage in the middle of a sealed segment', () => {
    const options = { partitions: 1, segmentBytes: 2048, indexIntervalBytes: 256 };

    async function damageFirstSegment(): Promise<string> {
      const log = await EmbeddedLog.open({ dir, ...options });
      for (let call = 0; call < 20; call++) {
        await log.append(Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: json({ n: call * 10 + i }) })));
      }
      expect(log.segmentCounts()[0]).toBeGreaterThan(2);
      await log.close();
      const first = join(dir, 'partition-0', `${'0'.repeat(20)}.seg`);
      const bytes = await readFile(first);
      await writeFile(first, flipByte(bytes, bytes.length >> 1));
      return first;
    }

    it('fails the open with log_corrupt when the segment must be scanned', async () => {
      const first = await damageFirstSegment();
      await rm(first.replace(/\.seg$/, '.idx'));
      const err = await EmbeddedLog.open({ dir, ...options }).catch((e: unknown) => e);
      expect(isBraidError(err, 'log_corrupt')).toBe(true);
      expect((err as Error).message).toContain(first);
      // The failed open released the lock.
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    });

    it('fails the read with log_corrupt when the open trusted the sidecar index', async () => {
      await damageFirstSegment();
      const log = await EmbeddedLog.open({ dir, ...options });
      try {
        const err = await readAll(log).catch((e: unknown) => e);
        expect(isBraidError(err, 'log_corrupt')).toBe(true);
        // Records after the damaged segment are still readable.
        const later = await readRange(log, { from: { 0: 150 }, until: await log.endPosition() });
        expect(later.map((r) => r.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 150 + i));
      } finally {
        await log.close();
      }
    });
  });

  describe('the lock', () => {
    it('refuses an open while another live process holds the log, and takes it over once that process is killed', async () => {
      const holder = startChild(['hold', dir, '2']);
      children.push(holder.child);
      await holder.line((l) => l.startsWith('ready'));

      const err = await EmbeddedLog.open({ dir, partitions: 2 }).catch((e: unknown) => e);
      expect(isBraidError(err, 'log_locked')).toBe(true);
      expect((err as Error).message).toContain(`pid ${holder.child.pid}`);
      expect((err as Error).message).toContain(dir);

      await holder.kill();
      const log = await EmbeddedLog.open({ dir, partitions: 2 });
      expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
      await log.close();
      expect(existsSync(join(dir, 'lock'))).toBe(false);
    });

    it('takes over a lock left by an earlier process that had this pid (a restarted container)', async () => {
      await (await EmbeddedLog.open({ dir, partitions: 1 })).close();
      await writeFile(join(dir, 'lock'), JSON.stringify({ pid: process.pid, startTime: '1' }));
      const log = await EmbeddedLog.open({ dir, partitions: 1 });
      await log.close();
    });
  });
});

/** Per partition, the records read are exactly the offsets 0 … end-1, in order. */
function checkContiguous(records: readonly LogRecord[], end: Record<number, number>): void {
  for (const [p, next] of Object.entries(end)) {
    const offsets = records.filter((r) => r.partition === Number(p)).map((r) => r.offset);
    expect(offsets).toEqual(Array.from({ length: next }, (_, i) => i));
  }
}

async function lastSegment(partitionDir: string): Promise<string> {
  const names = (await readdir(partitionDir)).filter((n) => n.endsWith('.seg')).sort();
  return join(partitionDir, names.at(-1)!);
}

function flipByte(buf: Buffer, at: number): Buffer {
  const copy = Buffer.from(buf);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}
