import { createHash } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { writeFileDurably, isMissing } from '../shared/files.js';
import type { Position } from '../shared/log/types.js';
import { viewKey, type CompiledView } from '../shared/views/index.js';
import { DedupeState, type DedupeSnapshot } from './dedupe.js';
import { emptyTables, type FoldCounts, type Tables } from './folder.js';

/**
 * A Kappa replay's checkpoint (contract §7): the fold of the log below `position` — every
 * view's states and the dedupe state — so that a replay killed with its process, or a later
 * replay to a position at or past it, goes on from there instead of from offset 0. The fold
 * of [0, P) is the fold of [0, position) continued over [position, P), so resuming gives the
 * same states.
 *
 * One file, `<dir>/replay.checkpoint`, replaced atomically (temp, fsync, rename): the
 * SHA-256 of the payload in hex, a newline, then the payload in V8's serialization (plain
 * data: numbers, Maps, typed arrays). A file that fails its hash, cannot be read by this
 * Node.js, or was written for other views or another dedupe window is not used (and is
 * replaced by the next checkpoint): it is derived data, and a replay from offset 0 is
 * always right.
 */
export interface Checkpoint {
  readonly position: Position;
  /**
   * Per partition, the SHA-256 (hex) of the last record below `position`: which log this is
   * the fold of. A replay checks it against the log before it goes on (a topic or log made
   * anew under the same data directory holds other records at those offsets).
   */
  readonly tips: Readonly<Record<number, string>>;
  readonly counts: FoldCounts;
  readonly dedupe: DedupeState;
  readonly tables: Tables;
}

interface Stored {
  readonly format: 1;
  readonly views: readonly string[];
  readonly windowMs: number;
  readonly position: Position;
  readonly tips: Readonly<Record<number, string>>;
  readonly counts: FoldCounts;
  readonly dedupe: DedupeSnapshot;
  readonly tables: ReadonlyArray<readonly [string, ReadonlyArray<readonly [number, readonly (string | null)[], unknown[]]>]>;
}

const FILE = 'replay.checkpoint';
const HASH_HEX = 64;

export class ReplayCheckpoints {
  readonly #dir: string;
  readonly #views: readonly CompiledView[];
  readonly #windowMs: number;

  constructor(dir: string, views: readonly CompiledView[], windowMs: number) {
    this.#dir = dir;
    this.#views = views;
    this.#windowMs = windowMs;
  }

  get file(): string {
    return path.join(this.#dir, FILE);
  }

  async save(checkpoint: Checkpoint): Promise<number> {
    const stored: Stored = {
      format: 1,
      views: this.#keys(),
      windowMs: this.#windowMs,
      position: { ...checkpoint.position },
      tips: { ...checkpoint.tips },
      counts: { ...checkpoint.counts },
      dedupe: checkpoint.dedupe.snapshot(),
      tables: [...checkpoint.tables].map(([key, table]) => [key, [...table.rows.values()].map((r) => [r.bucket, r.dims, r.states] as const)]),
    };
    const payload = serialize(stored);
    const hash = createHash('sha256').update(payload).digest('hex');
    await mkdir(this.#dir, { recursive: true });
    await writeFileDurably(this.#dir, this.file, Buffer.concat([Buffer.from(`${hash}\n`, 'latin1'), payload]));
    return payload.length + HASH_HEX + 1;
  }

  /**
   * The checkpoint to resume a replay to `target` from: one for these views and window at a
   * position at or below `target` in every partition. `problem` says why there is none.
   */
  async load(target: Position): Promise<{ checkpoint?: Checkpoint; problem?: string }> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch (err) {
      if (isMissing(err)) return { problem: 'there is no checkpoint' };
      throw err;
    }
    const hash = bytes.subarray(0, HASH_HEX).toString('latin1');
    const payload = bytes.subarray(HASH_HEX + 1);
    if (bytes[HASH_HEX] !== 0x0a || createHash('sha256').update(payload).digest('hex') !== hash) return { problem: 'the checkpoint fails its SHA-256' };
    let stored: Stored;
    try {
      stored = deserialize(payload) as Stored;
    } catch (err) {
      return { problem: `the checkpoint cannot be read (${(err as Error).message})` };
    }
    if (stored?.format !== 1) return { problem: 'the checkpoint is of another format' };
    if (stored.windowMs !== this.#windowMs) return { problem: 'the checkpoint was written with another dedupe window' };
    if (JSON.stringify(stored.views) !== JSON.stringify(this.#keys())) return { problem: 'the checkpoint was written for other view definitions' };
    for (const [p, o] of Object.entries(stored.position)) {
      if (o > (target[Number(p)] ?? 0)) return { problem: `the checkpoint is past the replay's target on partition ${p}` };
    }
    const tables = emptyTables(this.#views);
    for (const [key, rows] of stored.tables) {
      const table = tables.get(key);
      if (!table) return { problem: `the checkpoint holds an unknown view ${key}` };
      for (const [bucket, dims, states] of rows) table.group(bucket, dims).states.splice(0, states.length, ...states);
    }
    return { checkpoint: { position: stored.position, tips: stored.tips ?? {}, counts: stored.counts, dedupe: DedupeState.restore(stored.dedupe), tables } };
  }

  async remove(): Promise<void> {
    await rm(this.file, { force: true });
  }

  #keys(): string[] {
    return this.#views.map(viewKey).sort();
  }
}
