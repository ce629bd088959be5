import type { Position } from '../shared/log/position.js';
import type { EventLog } from '../shared/log/types.js';
import type { BatchVersion } from '../shared/views/index.js';
import type { BatchRunner, RunInfo } from '../batch/recompute/index.js';
import type { SpeedLayer } from '../speed/speed-layer.js';

/**
 * The batch/speed hand-off (contract §6), the one place the two layers meet:
 *
 * 1. a batch run's snapshot S is a **cut** of the speed layer, pinned while the run goes
 *    (`SpeedLayer.cut({ pin: true })`): the live segment is sealed at the speed position and a
 *    new one starts there, synchronously, so no record falls between the two;
 * 2. while the run goes, queries merge batch(previous) + the segments before and after the cut;
 * 3. when the run publishes, the speed layer pairs with the new version and drops the segments
 *    below its S in one synchronous swap (`SpeedLayer.onPublished`);
 * 4. when the run ends, however it ends, S is unpinned, so it need not stay a boundary.
 *
 * The invariant, at every instant: every non-duplicate record below the speed position counts
 * exactly once in batch(version) + segments. Without a ready speed layer in this process (off,
 * restarting), S is the log's end, and a speed layer that later sees a version whose S it did
 * not cut rebuilds from that S.
 *
 * `speed` is read at each step, not captured: a speed layer replaced meanwhile (a restart) is
 * the one that takes the next cut and pairs with the next version.
 */
export class HandOff {
  readonly #speed: () => SpeedLayer | undefined;
  readonly #log: EventLog;

  constructor(speed: () => SpeedLayer | undefined, log: EventLog) {
    this.#speed = speed;
    this.#log = log;
  }

  /** A run's S: a pinned cut of the speed layer, else the log's end (the batch runner's `snapshotPosition`). */
  readonly snapshotPosition = async (): Promise<Position> => {
    const layer = this.#speed();
    return layer?.ready ? layer.cut({ pin: true }) : this.#log.endPosition();
  };

  /** Pairs the speed layer with every version `batch` publishes, and unpins each run's S when it ends. */
  connect(batch: BatchRunner): void {
    batch.onPublished((version: BatchVersion) => this.#speed()?.onPublished(version));
    batch.onFinished((run: RunInfo) => {
      if (run.snapshot) this.#speed()?.unpin(run.snapshot);
    });
  }
}
