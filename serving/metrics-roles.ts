import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LogHandle } from '../shared/log/handle.js';
import type { Position } from '../shared/log/types.js';
import type { BraidNode } from './node.js';

/**
 * Metrics of the log and of the roles (archive, batch, speed, Kappa replay and
 * verification), on the registry the process passes in. Most are read from the
 * components' own state (`stats()`, positions, the serving version) when Prometheus
 * scrapes, so no component carries metric objects; batch runs and verifications are
 * counted by hooks, because a scrape would miss what finished between two scrapes.
 *
 * Naming: `_total` counters, `_seconds` durations and ages, `_bytes` sizes,
 * `_timestamp_seconds` epoch times (0 = never). The catalogue is listed in README
 * ("Metrics") and used by infra/grafana and infra/prometheus.
 */
export interface RoleMetricsOptions {
  readonly registry: Registry;
  readonly log: LogHandle;
  readonly node?: BraidNode;
  /** which role families to register: those of a role this process never runs stay out */
  readonly roles: { readonly archive: boolean; readonly batch: boolean; readonly speed: boolean };
}

export function registerRoleMetrics(options: RoleMetricsOptions): void {
  registerLogMetrics(options);
  const { node, roles } = options;
  if (!node) return;
  if (roles.archive) registerArchiveMetrics(options.registry, node);
  if (roles.batch) registerBatchMetrics(options.registry, node);
  if (roles.speed) registerSpeedMetrics(options.registry, node);
  registerKappaMetrics(options.registry, node);
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

function registerLogMetrics({ registry, log, node }: RoleMetricsOptions): void {
  const end = endPositionSampler(log);
  const consumers = (): Array<[string, Position | undefined]> => [
    ['archive', node?.archiver?.position()],
    ['speed', node?.speed?.position()],
  ];
  new Gauge({
    name: 'braid_ready',
    help: '1 when the process is ready (GET /readyz answers 200): the log is open and every enabled role is up.',
    registers: [registry],
    collect() {
      this.set(log.current() && (node?.readiness().ready ?? true) ? 1 : 0);
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

/**
 * A counter that follows a cumulative count a component keeps itself (read at scrape
 * time). If the count goes down, the component was replaced and counts from zero again.
 */
function followingCounter(registry: Registry, name: string, help: string, read: () => number | undefined): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      if (value === undefined) return;
      const delta = value >= last ? value - last : value;
      if (delta > 0) this.inc(delta);
      last = value;
    },
  });
}

function stateGauge(registry: Registry, name: string, help: string, read: () => number | undefined, labelNames: string[] = []): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const value = read();
      if (value !== undefined) this.set(value);
    },
  });
}

function registerArchiveMetrics(registry: Registry, node: BraidNode): void {
  const stats = () => node.archiver?.stats();
  stateGauge(registry, 'braid_archive_files', 'Parquet files the archive manifest lists.', () => stats()?.files);
  stateGauge(registry, 'braid_archive_records', 'Records in the archive (the files the manifest lists).', () => stats()?.records);
  stateGauge(registry, 'braid_archive_bytes', 'Bytes of the Parquet files the archive manifest lists.', () => stats()?.bytes);
  stateGauge(registry, 'braid_archive_buffered_records', 'Records read from the log and not yet written to a listed file.', () => stats()?.buffered);
  stateGauge(registry, 'braid_archive_failed', '1 when the archiver stopped on an error that retrying cannot fix (see the log); it archives nothing more until restarted.', () => {
    const s = stats();
    return s ? (s.state === 'failed' ? 1 : 0) : undefined;
  });
  followingCounter(registry, 'braid_archive_compactions_total', 'Compactions: runs of small Parquet files merged into one.', () => stats()?.compactions);
}

function registerBatchMetrics(registry: Registry, node: BraidNode): void {
  const runs = new Counter({
    name: 'braid_batch_runs_total',
    help: 'Finished batch runs by outcome (succeeded, failed) and trigger (schedule, api, cli).',
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
  // Every outcome exists from the start, so increase() sees the first run of each.
  for (const outcome of ['succeeded', 'failed']) {
    for (const trigger of ['schedule', 'api', 'cli']) runs.inc({ outcome, trigger }, 0);
    seconds.zero({ outcome });
  }
  node.onBatchRunFinished((run) => {
    const outcome = run.state === 'succeeded' ? 'succeeded' : 'failed';
    runs.inc({ outcome, trigger: run.trigger });
    if (run.finishedAt) seconds.observe({ outcome }, Math.max(0, Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
    recordsRead.inc(run.progress.recordsRead);
  });

  const registeredAt = Date.now();
  const current = () => node.batch?.current();
  stateGauge(registry, 'braid_batch_serving_version', 'The batch version queries are answered from; 0 before the first run succeeds.', () => (node.batch ? (current()?.version ?? 0) : undefined));
  stateGauge(registry, 'braid_batch_last_success_timestamp_seconds', 'When the serving batch version was published (the last successful run); 0 = never.', () =>
    node.batch ? ((v) => (v ? Date.parse(v.createdAt) / 1000 : 0))(current()) : undefined,
  );
  stateGauge(
    registry,
    'braid_batch_snapshot_age_seconds',
    'Age of the serving batch version (since it was published); before any version, time since the process started, so a batch layer that never succeeds looks old.',
    () => {
      if (!node.batch) return undefined;
      const v = current();
      return Math.max(0, (Date.now() - (v ? Date.parse(v.createdAt) : registeredAt)) / 1000);
    },
  );
  stateGauge(registry, 'braid_batch_run_in_progress', '1 while a batch run is going.', () => {
    if (!node.batch) return undefined;
    return node.batch.runs().some((r) => r.finishedAt === undefined) ? 1 : 0;
  });
}

function registerSpeedMetrics(registry: Registry, node: BraidNode): void {
  const stats = () => (node.speed?.ready ? node.speed.stats() : undefined);
  followingCounter(registry, 'braid_speed_records_folded_total', 'Records the speed layer folded into its views (records a rebuild folds again count again).', () => stats()?.folded);
  followingCounter(registry, 'braid_speed_duplicates_dropped_total', 'Records the speed layer dropped as duplicates (design section 3).', () => stats()?.duplicates);
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

const VerificationOutcomes = ['match', 'mismatch', 'failed'] as const;

function registerKappaMetrics(registry: Registry, node: BraidNode): void {
  const newest = () => node.replayer?.replays()[0];
  stateGauge(registry, 'braid_replay_running', '1 while a Kappa replay is going.', () => (node.replayer ? (newest()?.state === 'running' ? 1 : 0) : undefined));
  stateGauge(registry, 'braid_replay_records', 'Records the newest Kappa replay has read so far.', () => newest()?.progress.records);
  stateGauge(registry, 'braid_replay_target_records', 'Records the newest Kappa replay reads in all (the log up to its target position).', () => newest()?.progress.total);
  stateGauge(registry, 'braid_replay_records_per_second', 'Read rate of the newest Kappa replay so far.', () => newest()?.progress.rate);

  const verifications = new Counter({
    name: 'braid_verifications_total',
    help: 'Finished Lambda-vs-Kappa verifications by outcome: match, mismatch, failed (could not compare).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of VerificationOutcomes) verifications.inc({ outcome }, 0);
  const previous = node.onVerification;
  node.onVerification = (v) => {
    previous?.(v);
    verifications.inc({ outcome: v.state !== 'succeeded' ? 'failed' : v.ok ? 'match' : 'mismatch' });
  };

  const last = () => node.verifier?.last();
  stateGauge(registry, 'braid_verification_last_timestamp_seconds', 'When the last verification finished; 0 = never.', () => {
    if (!node.verifier) return undefined;
    const finished = last()?.finishedAt;
    return finished ? Date.parse(finished) / 1000 : 0;
  });
  new Gauge({
    name: 'braid_verification_last_outcome',
    help: '1 for the outcome of the last verification (match, mismatch, failed), 0 for the others; none before the first.',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      const v = last();
      if (!v) return;
      const outcome = v.state !== 'succeeded' ? 'failed' : v.ok ? 'match' : 'mismatch';
      for (const o of VerificationOutcomes) this.set({ outcome: o }, o === outcome ? 1 : 0);
    },
  });
  for (const [name, help, pick] of [
    ['braid_verification_last_rows_compared', 'Rows (bucket and group) the last successful verification compared, per view.', (x: { rowsCompared: number }) => x.rowsCompared],
    ['braid_verification_last_mismatching_rows', 'Rows missing on one side or with a measure beyond tolerance in the last successful verification, per view.', (x: { mismatchingRows: number }) => x.mismatchingRows],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['view'],
      registers: [registry],
      collect() {
        this.reset();
        for (const view of last()?.views ?? []) this.set({ view: view.view }, pick(view));
      },
    });
  }
}
