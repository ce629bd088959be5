import type { Registry } from 'prom-client';
import type { SpeedStats } from '../../speed/speed-layer.js';
import { followingCounter, stateGauge } from './family.js';

/** The speed layer: records folded and dropped, groups, segments, dedupe state, start-up, rebuilds. */
export function registerSpeedMetrics(registry: Registry, stats: () => SpeedStats | undefined): void {
  followingCounter(registry, 'braid_speed_records_folded_total', 'Records the speed layer folded into its views (records a rebuild folds again count again).', () => stats()?.folded);
  followingCounter(registry, 'braid_speed_duplicates_dropped_total', 'Records the speed layer dropped as duplicates (contract §3).', () => stats()?.duplicates);
  stateGauge(registry, 'braid_speed_groups', 'Groups (bucket and dimension values) the speed layer holds, over all views and segments.', () => stats()?.groups);
  stateGauge(registry, 'braid_speed_segments', 'Segments the speed layer holds: 1, plus one per batch run not yet published.', () => stats()?.segments);
  stateGauge(registry, 'braid_speed_dedupe_entries', 'Ids the speed layer remembers to drop duplicates within the dedupe window.', () => stats()?.dedupeEntries);
  stateGauge(registry, 'braid_speed_dedupe_bytes', 'Bytes of the dedupe tables (typed arrays off the JS heap, at their high-water size).', () => stats()?.dedupeBytes);
  stateGauge(registry, 'braid_speed_ready_seconds', 'Time the speed layer took at start to catch up with the log and become ready.', () => stats()?.readySeconds);
  stateGauge(registry, 'braid_speed_rebuilding', '1 while the speed layer rebuilds to a batch snapshot it did not cut.', () => {
    const s = stats();
    return s ? (s.rebuilding ? 1 : 0) : undefined;
  });
}
