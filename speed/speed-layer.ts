import type { Logger } from 'pino';
import { BraidError } from '../shared/errors.js';
import { covers, maxPosition, positionKey, samePosition, zeroPosition, type Position } from '../shared/log/position.js';
import type { EventLog } from '../shared/log/types.js';
import { freezeRows, mergeTables, viewKey, type BatchVersion, type ColumnTable, type CompiledView } from '../shared/views/index.js';
import { DedupeState } from './dedupe.js';
import { warmStart } from './warm.js';
import { emptyTables, Folder, type FoldCounts, type Tables } from './folder.js';

/** Records folded between two pauses of the tail. */
const FOLD_SLICE = 256;

/** A sealed segment's tables, keyed by `viewKey`: immutable. */
export type SealedTables = ReadonlyMap<string, ColumnTable>;

export interface SpeedLayerOptions {
  readonly log: EventLog;
  readonly views: readonly CompiledView[];
  readonly dedupeWindowMs: number;
  /** the serving batch version at start (undefined: none yet, S = the log's start) */
  readonly base: () => BatchVersion | undefined;
  readonly logger: Logger;
  /** records per read batch */
  readonly maxBatch?: number;
  /** the most the dedupe state may hold, bytes (speed.maxDedupeMemory) */
  readonly maxDedupeBytes?: number;
  /** groups the live segment may hold before it is sealed (speed.sealGroups) */
  readonly sealGroups?: number;
  /** shares the event loop: awaited by compaction between steps */
  readonly pause?: () => Promise<void> | undefined;
  /** how far append times may go back between producers, ms (the dedupe state's skew allowance; default five minutes) */
  readonly dedupeSkewMs?: number;
}

/**
 * A run of aggregates over the records in [start, end). Segments tile the log from the
 * paired batch version's snapshot S to the speed position: sealed ones (immutable tables in
 * columns, what queries and verification read), then the live one, folded into.
 */
interface Sealed {
  readonly start: Position;
  readonly end: Position;
  readonly tables: SealedTables;
  /** groups over its tables */
  readonly groups: number;
}

interface Live {
  readonly start: Position;
  readonly tables: Tables;
}

interface State {
  readonly base: BatchVersion | undefined;
  readonly folder: Folder;
  sealed: Sealed[];
  live: Live;
  position: Position;
}

/**
 * The Lambda side at one instant: the paired batch version and the speed layer's segments
 * after its S, up to `position`. Taken whole, synchronously, so the two always belong together.
 */
export interface SpeedPair {
  readonly base: BatchVersion | undefined;
  /** per segment, oldest first, its sealed tables keyed by `viewKey` */
  readonly segments: ReadonlyArray<SealedTables>;
  readonly position: Position;
}

export interface SpeedStats {
  readonly folded: number;
  readonly duplicates: number;
  readonly groups: number;
  readonly segments: number;
  readonly dedupeEntries: number;
  readonly dedupeBytes: number;
  readonly position: Position;
  readonly readySeconds: number | undefined;
  readonly rebuilding: boolean;
  /** records read to warm the dedupe state (the window before S), at start and in rebuilds */
  readonly warmed: number;
}

/**
 * The speed layer (contract §6). It keeps the aggregates of every record at or after
 * its paired batch version's snapshot S, cut into segments at the positions batch runs
 * start from. The invariant, at every instant and for every query:
 *
 *   batch(version, S) + the segments from S to the speed position
 *     = every non-duplicate record below the speed position, each exactly once,
 *
 * because the version covers [0, S), the segments tile [S, position) without overlap, and
 * a query takes the version and its segments as one pair (`snapshot`). A new version is
 * paired only once a segment starts exactly at its S (then older segments are dropped);
 * otherwise — say, a run whose cut this process never saw — the layer rebuilds from the new
 * S in the background while still answering from the old pair.
 */
export class SpeedLayer {
  readonly #options: SpeedLayerOptions;
  #state: State | undefined;
  #counts: FoldCounts = { folded: 0, duplicates: 0 };
  #tail: AbortController | undefined;
  #tailDone: Promise<void> = Promise.resolve();
  #rebuilding: Promise<void> | undefined;
  #readySeconds: number | undefined;
  #closed = false;
  /** records read to warm the dedupe state, at start and in rebuilds */
  #warmed = 0;
  /** S of batch runs in flight (position key → runs): boundaries that must survive compaction */
  readonly #pins = new Map<string, number>();
  #compacting: Promise<void> | undefined;

  constructor(options: SpeedLayerOptions) {
    this.#options = options;
  }

  /** Builds the state from the serving version's S up to the log's end, then tails. */
  async start(): Promise<void> {
    const started = performance.now();
    const state = await this.#build(this.#options.base());
    this.#state = state;
    this.#readySeconds = (performance.now() - started) / 1000;
    this.#options.logger.info(
      { readySeconds: Number(this.#readySeconds.toFixed(3)), position: state.position, folded: this.#counts.folded, warmed: this.#warmed },
      'speed layer ready',
    );
    this.#startTail();
  }

  get ready(): boolean {
    return this.#state !== undefined;
  }

  /**
   * Seals the live segment at the current position and returns that position: a batch
   * run's snapshot S. Synchronous, so no record is folded between the seal and the answer.
   */
  cut(options: { pin?: boolean } = {}): Position {
    const state = this.#requireState();
    const position = { ...state.position };
    if (options.pin) this.#pins.set(positionKey(position), (this.#pins.get(positionKey(position)) ?? 0) + 1);
    this.#seal(state);
    return position;
  }

  /** A batch run that took its S with `cut({ pin: true })` has finished: S need not stay a boundary. */
  unpin(position: Position): void {
    const key = positionKey(position);
    const n = this.#pins.get(key) ?? 0;
    if (n <= 1) this.#pins.delete(key);
    else this.#pins.set(key, n - 1);
  }

  /**
   * The live segment becomes a sealed one (its tables frozen into columns) and a new live
   * segment starts at the same position; nothing when the live segment holds no record.
   */
  #seal(state: State): void {
    const { live } = state;
    if (samePosition(live.start, state.position)) return; // already a boundary
    const tables = new Map<string, ColumnTable>();
    let groups = 0;
    for (const [key, table] of live.tables) {
      const frozen = freezeRows(table.view, table.rows.values());
      tables.set(key, frozen);
      groups += frozen.length;
    }
    const end = { ...state.position };
    state.sealed = [...state.sealed, { start: live.start, end, tables, groups }];
    state.live = { start: end, tables: emptyTables(this.#options.views) };
    this.#compactSoon();
  }

  /**
   * Merges neighbouring sealed segments, newest first, while the older of two holds at most
   * twice the groups of the newer and their boundary is no running batch run's S — so there
   * are about log₂(groups) segments however often queries seal, and each group is merged
   * about as many times. The merge runs in the background, pausing between steps; the merged
   * segment replaces the two only if they are still there (a publish may have dropped them),
   * and gets new tables: a query or a verification holding the old ones keeps them intact.
   */
  #compactSoon(): void {
    if (this.#compacting || this.#closed) return;
    this.#compacting = (async () => {
      for (;;) {
        const state = this.#state;
        if (!state || this.#closed) return;
        const pair = this.#mergeable(state.sealed);
        if (!pair) return;
        const [older, newer] = pair;
        const tables = new Map<string, ColumnTable>();
        let groups = 0;
        for (const [key, a] of older.tables) {
          const merged = await mergeTables(a, newer.tables.get(key)!, this.#options.pause);
          tables.set(key, merged);
          groups += merged.length;
        }
        const current = this.#state;
        if (!current) return;
        const i = current.sealed.indexOf(older);
        if (i < 0 || current.sealed[i + 1] !== newer || this.#pins.has(positionKey(newer.start))) continue;
        current.sealed = [...current.sealed.slice(0, i), { start: older.start, end: newer.end, tables, groups }, ...current.sealed.slice(i + 2)];
      }
    })()
      .catch((err: unknown) => this.#options.logger.error({ err }, 'speed layer compaction failed; the segments stay as they are'))
      .finally(() => {
        this.#compacting = undefined;
      });
  }

  #mergeable(sealed: readonly Sealed[]): [Sealed, Sealed] | undefined {
    for (let i = sealed.length - 1; i >= 1; i--) {
      const older = sealed[i - 1]!;
      const newer = sealed[i]!;
      if (this.#pins.has(positionKey(newer.start))) continue;
      if (older.groups <= 2 * newer.groups || newer.groups === 0) return [older, newer];
    }
    return undefined;
  }

  /**
   * The Lambda side frozen at a position, without pausing ingestion: a seal, then the
   * paired version and the sealed segments up to it. Sealed segments are never folded
   * into again, and dropping them later only unlinks them, so the capture stays valid.
   */
  capture(): { batch: BatchVersion | undefined; position: Position; tables: ReadonlyArray<SealedTables> } {
    const position = this.cut();
    const state = this.#requireState();
    return { batch: state.base, position, tables: state.sealed.map((s) => s.tables) };
  }

  /** Called when a batch version is published: pair with it, or rebuild to reach its S. */
  onPublished(version: BatchVersion): void {
    const state = this.#state;
    if (!state || this.#closed) return;
    const i = state.sealed.findIndex((s) => samePosition(s.start, version.snapshot));
    if (i >= 0 || samePosition(state.live.start, version.snapshot)) {
      // One synchronous swap: queries see either the old pair or the new one.
      this.#state = { ...state, base: version, sealed: i >= 0 ? state.sealed.slice(i) : [] };
      return;
    }
    this.#options.logger.info({ version: version.version, snapshot: version.snapshot }, 'speed layer rebuilding to a snapshot it did not cut');
    this.#rebuilding ??= this.#rebuild(version)
      .catch((err: unknown) => {
        // Nobody awaits a rebuild: unhandled, its failure (a log read, the dedupe memory
        // limit) would end the process. The old pair keeps answering, still exact; the
        // next published version tries again.
        this.#options.logger.error({ err, version: version.version }, 'speed layer could not rebuild to the published snapshot; it keeps answering from the version it is paired with');
      })
      .finally(() => {
        this.#rebuilding = undefined;
      });
  }

  /**
   * Builds the whole state again from the serving version, dedupe state included, and swaps it
   * in: after an erasure, so that nothing read before the log was rewritten stays (not in the
   * aggregates, nor an erased id that could make a later event a duplicate). The current pair
   * answers meanwhile. Waits for a rebuild already going, then does its own; rejects when it fails.
   */
  async rebuildNow(): Promise<void> {
    await this.#rebuilding?.catch(() => undefined);
    if (this.#closed) return;
    const base = this.#options.base();
    const run = this.#rebuild(base);
    this.#rebuilding = run.catch(() => undefined).finally(() => {
      if (this.#rebuilding === tracked) this.#rebuilding = undefined;
    });
    const tracked = this.#rebuilding;
    await run;
  }

  /**
   * The paired version and the sealed segments after its S, as one pair, up to the current
   * position (the live segment is sealed first, so every table is immutable and the answer
   * misses nothing folded); undefined while not ready.
   */
  pair(): SpeedPair | undefined {
    const state = this.#state;
    if (!state) return undefined;
    this.#seal(state);
    return { base: state.base, segments: state.sealed.map((s) => s.tables), position: { ...state.position } };
  }

  /** Resolves once the compaction running (if any) has finished. */
  async compacted(): Promise<void> {
    await this.#compacting;
  }

  position(): Position | undefined {
    return this.#state ? { ...this.#state.position } : undefined;
  }

  stats(): SpeedStats {
    const state = this.#state;
    let groups = 0;
    for (const s of state?.sealed ?? []) groups += s.groups;
    for (const t of state?.live.tables.values() ?? []) groups += t.size;
    return {
      folded: this.#counts.folded,
      duplicates: this.#counts.duplicates,
      groups,
      segments: state ? state.sealed.length + 1 : 0,
      dedupeEntries: state?.folder.dedupe.entries ?? 0,
      dedupeBytes: state?.folder.dedupe.bytes ?? 0,
      position: state ? { ...state.position } : {},
      readySeconds: this.#readySeconds,
      rebuilding: this.#rebuilding !== undefined,
      warmed: this.#warmed,
    };
  }

  /** Resolves once the speed position has reached `target` on every partition. */
  async waitFor(target: Position, signal?: AbortSignal): Promise<void> {
    while (!signal?.aborted && !this.#closed) {
      const p = this.#state?.position;
      if (p && covers(p, target)) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#tail?.abort();
    await this.#tailDone;
    await this.#rebuilding?.catch(() => undefined);
    await this.#compacting;
  }

  #requireState(): State {
    if (!this.#state) throw new Error('the speed layer is not ready yet');
    return this.#state;
  }

  async #build(base: BatchVersion | undefined): Promise<State> {
    const { log, views, dedupeWindowMs, dedupeSkewMs, maxBatch = 5_000 } = this.#options;
    const snapshot = base?.snapshot ?? {};
    const folder = new Folder(views, new DedupeState({ windowMs: dedupeWindowMs, ...(dedupeSkewMs === undefined ? {} : { skewMs: dedupeSkewMs }) }));
    // Warm the dedupe state with the records before S that can still make later ones duplicates.
    if (Object.values(snapshot).some((o) => o > 0)) {
      // Only what the rule can still reach (speed/warm.ts): start-up costs the window, not the history.
      const from = await warmStart(log, snapshot, folder.dedupe.windowMs, folder.dedupe.skewMs);
      for await (const batch of log.read({ from, until: snapshot, maxBatch })) {
        folder.warm(batch);
        this.#warmed += batch.length;
      }
    }
    const end = await log.endPosition();
    const start = { ...zeroPosition(log.partitions), ...snapshot };
    const state: State = { base, folder, sealed: [], live: { start, tables: emptyTables(views) }, position: { ...start } };
    if (!covers(state.position, end)) {
      for await (const batch of log.read({ from: state.position, until: end, maxBatch })) this.#fold(state, batch);
      Object.assign(state.position, maxPosition(state.position, end));
    }
    this.#checkDedupeMemory(folder);
    return state;
  }

  /** Folds a batch of records into the live segment; seals it once it holds sealGroups groups. */
  #fold(state: State, batch: Parameters<Folder['fold']>[0]): void {
    state.folder.fold(batch, state.live.tables, this.#counts);
    for (const r of batch) state.position[r.partition] = r.offset + 1;
    let groups = 0;
    for (const t of state.live.tables.values()) groups += t.size;
    if (groups >= (this.#options.sealGroups ?? 16_384)) this.#seal(state);
  }

  /**
   * The dedupe state must hold every id of the window; a window that needs more memory
   * than allowed is refused when the layer starts, rather than growing until the process dies.
   */
  #checkDedupeMemory(folder: Folder): void {
    const limit = this.#options.maxDedupeBytes;
    const { bytes, entries, windowMs } = folder.dedupe;
    if (limit === undefined || bytes <= limit) return;
    const window = windowMs === Infinity ? 'forever' : `${Math.round(windowMs / 1000)} s`;
    throw new BraidError(
      'invalid_config',
      `dedupe.window (${window}) holds ${entries} ids up to the speed layer's start, about ${size(bytes)}, more than speed.maxDedupeMemory (${size(limit)}); shorten dedupe.window or raise speed.maxDedupeMemory`,
    );
  }

  async #rebuild(version: BatchVersion | undefined): Promise<void> {
    // Stop tailing so the rebuilt state can take over at a known position.
    this.#tail?.abort();
    await this.#tailDone;
    if (this.#closed) return;
    try {
      const state = await this.#build(version);
      if (!this.#closed) this.#state = state;
    } finally {
      if (!this.#closed) this.#startTail();
    }
  }

  #startTail(): void {
    const abort = new AbortController();
    this.#tail = abort;
    this.#tailDone = (async () => {
      const { log, maxBatch = 5_000 } = this.#options;
      while (!abort.signal.aborted) {
        try {
          const state = this.#requireState();
          for await (const batch of log.read({ from: { ...state.position }, maxBatch, signal: abort.signal })) {
            // In slices of the event loop: a batch of thousands of records folded at once
            // would hold an ingest request (or a query) waiting behind it.
            for (let i = 0; i < batch.length; i += FOLD_SLICE) {
              this.#fold(this.#requireState(), batch.length <= FOLD_SLICE ? batch : batch.slice(i, i + FOLD_SLICE));
              const paused = this.#options.pause?.();
              if (paused) await paused;
              // A rebuild or close stops the tail: the rest of this batch is not this state's.
              if (abort.signal.aborted) return;
            }
          }
          return;
        } catch (err) {
          if (abort.signal.aborted || this.#closed) return;
          this.#options.logger.warn({ err: (err as Error).message }, 'speed layer read failed; retrying');
          await new Promise((r) => setTimeout(r, 1_000));
        }
      }
    })();
  }
}

function size(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.round(bytes / 1e3)} KB`;
}
