import { Gauge, type Registry } from 'prom-client';
import type { LogHandle } from '../../shared/log/handle.js';
import type { Position } from '../../shared/log/position.js';

export interface LogMetricsSource {
  readonly log: LogHandle;
  /** whether every enabled role is up (the log being open is checked here) */
  readonly rolesReady: () => boolean;
  /** each consumer of the log and the position it has reached (undefined: not running) */
  readonly consumers: () => ReadonlyArray<readonly [string, Position | undefined]>;
  /** log.retention's last pass in this process: the log's start and the records it deleted in all (undefined: no retention here) */
  readonly retention?: () => { readonly start: Position; readonly deletedRecords: number } | undefined;
}

/**
 * One `endPosition()` per scrape (a Kafka admin call), shared by the gauges that need it:
 * the registry collects them concurrently, so they share the call in flight.
 */
function endPositionSampler(log: LogHandle): () => Promise<Position | undefined> {
  let inFlight: Promise<Position | undefined> | undefined;
  return () => {
    if (!inFlight) {
      const current = log.current();
      inFlight = (current ? current.endPosition().catch(() => undefined) : Promise.resolve(undefined)).finally(() => {
        inFlight = undefined;
      });
    }
    return inFlight;
  };
}

/** Readiness, the log's end and each consumer's offset and lag. */
export function registerLogMetrics(registry: Registry, { log, rolesReady, consumers, retention }: LogMetricsSource): void {
  const end = endPositionSampler(log);
  if (retention) {
    new Gauge({
      name: 'braid_log_start_offset',
      help: 'Under log.retention, the first offset the log still holds per partition (older records are in the archive only).',
      labelNames: ['partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [p, offset] of Object.entries(retention()?.start ?? {})) this.set({ partition: p }, offset);
      },
    });
    new Gauge({
      name: 'braid_log_deleted_records',
      help: 'Archived records log.retention has deleted from the log since this process started.',
      registers: [registry],
      collect() {
        this.set(retention()?.deletedRecords ?? 0);
      },
    });
  }
  new Gauge({
    name: 'braid_ready',
    help: '1 when the process is ready (GET /readyz answers 200): the log is open and every enabled role is up.',
    registers: [registry],
    collect() {
      this.set(log.current() && rolesReady() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'braid_log_end_offset',
    help: 'The end of the log per partition: the offset the next appended record gets.',
    labelNames: ['partition'],
    registers: [registry],
    async collect() {
      const position = await end();
      this.reset();
      for (const [p, offset] of Object.entries(position ?? {})) this.set({ partition: p }, offset);
    },
  });
  new Gauge({
    name: 'braid_consumer_offset',
    help: 'Per consumer of the log (archive: written to Parquet and listed; speed: folded) and partition, the next offset it takes.',
    labelNames: ['consumer', 'partition'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [consumer, position] of consumers()) {
        for (const [p, offset] of Object.entries(position ?? {})) this.set({ consumer, partition: p }, offset);
      }
    },
  });
  new Gauge({
    name: 'braid_consumer_lag',
    help: 'Per consumer of the log and partition, records in the log it has not covered yet (archive: records read but not yet in a listed file count as lag).',
    labelNames: ['consumer', 'partition'],
    registers: [registry],
    async collect() {
      const position = await end();
      this.reset();
      if (!position) return;
      for (const [consumer, at] of consumers()) {
        if (!at) continue;
        for (const [p, offset] of Object.entries(position)) this.set({ consumer, partition: p }, Math.max(0, offset - (at[Number(p)] ?? 0)));
      }
    },
  });
}
