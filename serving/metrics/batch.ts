import { Counter, Histogram, type Registry } from 'prom-client';
import type { BatchVersion } from '../../shared/views/index.js';
import { RunTriggers, type RunInfo } from '../../batch/recompute/index.js';
import { stateGauge } from './family.js';

export interface BatchMetricsSource {
  /** false until the batch role runs in this process */
  readonly present: () => boolean;
  readonly current: () => BatchVersion | undefined;
  readonly running: () => boolean;
  readonly onRunFinished: (listener: (run: RunInfo) => void) => void;
}

const RunOutcomes = ['succeeded', 'failed'] as const;

/** Batch runs by outcome and trigger, their duration and input, and the serving version's age. */
export function registerBatchMetrics(registry: Registry, source: BatchMetricsSource): void {
  const runs = new Counter({
    name: 'braid_batch_runs_total',
    help: 'Finished batch runs by outcome (succeeded, failed) and trigger (schedule, api, cli, startup).',
    labelNames: ['outcome', 'trigger'],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: 'braid_batch_run_duration_seconds',
    help: 'Time from the start of a batch run (snapshot taken) to its end, by outcome.',
    labelNames: ['outcome'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [registry],
  });
  const recordsRead = new Counter({
    name: 'braid_batch_records_read_total',
    help: 'Archived records below the snapshot that finished batch runs read.',
    registers: [registry],
  });
  // Every outcome and trigger exists from the start, so increase() sees the first run of each.
  for (const outcome of RunOutcomes) {
    for (const trigger of RunTriggers) runs.inc({ outcome, trigger }, 0);
    seconds.zero({ outcome });
  }
  source.onRunFinished((run) => {
    const outcome = run.state === 'succeeded' ? 'succeeded' : 'failed';
    runs.inc({ outcome, trigger: run.trigger });
    if (run.finishedAt) seconds.observe({ outcome }, Math.max(0, Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
    recordsRead.inc(run.progress.recordsRead);
  });

  const registeredAt = Date.now();
  const { present, current } = source;
  stateGauge(registry, 'braid_batch_serving_version', 'The batch version queries are answered from; 0 before the first run succeeds.', () => (present() ? (current()?.version ?? 0) : undefined));
  stateGauge(registry, 'braid_batch_last_success_timestamp_seconds', 'When the serving batch version was published (the last successful run); 0 = never.', () =>
    present() ? ((v) => (v ? Date.parse(v.createdAt) / 1000 : 0))(current()) : undefined,
  );
  stateGauge(
    registry,
    'braid_batch_snapshot_age_seconds',
    'Age of the serving batch version (since it was published); before any version, time since the process started, so a batch layer that never succeeds looks old.',
    () => {
      if (!present()) return undefined;
      const v = current();
      return Math.max(0, (Date.now() - (v ? Date.parse(v.createdAt) : registeredAt)) / 1000);
    },
  );
  stateGauge(registry, 'braid_batch_run_in_progress', '1 while a batch run is going.', () => (present() ? (source.running() ? 1 : 0) : undefined));
}
