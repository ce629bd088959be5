import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh, type Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { GraphDrawStyle } from '@grafana/grafana-foundation-sdk/common';
import { PROMETHEUS, promTargets, sel, thresholds } from './common.js';

type Query = [expr: string, legend: string];

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: string;
  readonly queries: readonly Query[];
  readonly width?: number;
  readonly height?: number;
  readonly bars?: boolean;
}

function timeseries(spec: PanelSpec): TimeseriesPanel {
  const panel = new TimeseriesPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(PROMETHEUS)
    .unit(spec.unit)
    .span(spec.width ?? 8)
    .height(spec.height ?? 8)
    .targets(promTargets(...spec.queries));
  if (spec.bars) panel.drawStyle(GraphDrawStyle.Bars).fillOpacity(60);
  return panel;
}

function stat(spec: PanelSpec & { readonly steps?: Array<[number | null, string]> }): StatPanel {
  return new StatPanel()
    .title(spec.title)
    .description(spec.description)
    .datasource(PROMETHEUS)
    .unit(spec.unit)
    .span(spec.width ?? 4)
    .height(spec.height ?? 4)
    .thresholds(thresholds(...(spec.steps ?? [[null, 'green']])))
    .targets(promTargets(...spec.queries));
}

const rate = (metric: string, ...matchers: string[]) => `rate(${metric}${sel(...matchers)}[$__rate_interval])`;
const quantile = (q: number, metric: string, by: string[] = [], ...matchers: string[]) =>
  `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (${rate(`${metric}_bucket`, ...matchers)}))`;

/** The rows of the operations dashboard, each with its panels, top to bottom. */
function rows(): Array<[title: string, panels: cog.Builder<Panel>[]]> {
  return [
    [
      'Overview',
      [
        stat({ title: 'Ready', description: '1 when GET /readyz answers 200: the log is open and every enabled role is up.', unit: 'none', queries: [[`braid_ready${sel()}`, '{{instance}}']], steps: [[null, 'red'], [1, 'green']] }),
        stat({ title: 'Events accepted per second', description: 'Events appended to the log per second.', unit: 'ops', queries: [[`sum(${rate('braid_ingest_events_total', 'outcome="accepted"')})`, 'accepted']] }),
        stat({ title: 'Records in the log', description: 'Sum over partitions of the log end offset: every record ever appended.', unit: 'short', queries: [[`sum(braid_log_end_offset${sel()})`, 'records']] }),
        stat({ title: 'Serving batch version', description: 'The batch version queries merge with the speed layer; 0 before the first run succeeds.', unit: 'none', queries: [[`max(braid_batch_serving_version${sel()})`, 'version']] }),
        stat({
          title: 'Batch snapshot age',
          description: 'Time since the serving batch version was published. Events after its snapshot are answered by the speed layer; a growing age means batch runs fail or do not run.',
          unit: 's',
          queries: [[`max(braid_batch_snapshot_age_seconds${sel()})`, 'age']],
          steps: [[null, 'green'], [900, 'orange'], [1_800, 'red']],
        }),
        stat({
          title: 'Consumer lag',
          description: 'Records in the log that the archive and the speed layer have not covered yet.',
          unit: 'short',
          queries: [[`sum by (consumer) (braid_consumer_lag${sel()})`, '{{consumer}}']],
          steps: [[null, 'green'], [10_000, 'orange'], [100_000, 'red']],
        }),
      ],
    ],
    [
      'Ingest',
      [
        timeseries({ title: 'Events by outcome', description: 'Events per second in POST /v1/events requests: accepted (durable in the log), rejected (4xx) or failed (5xx).', unit: 'ops', queries: [[`sum by (outcome) (${rate('braid_ingest_events_total')})`, '{{outcome}}']], width: 6 }),
        timeseries({ title: 'Rejections by reason', description: 'Rejected or failed ingest requests per second by error code (invalid_events, body_too_large, unauthorized, log_unavailable, …).', unit: 'reqps', queries: [[`sum by (reason) (${rate('braid_ingest_rejections_total')})`, '{{reason}}']], width: 6 }),
        timeseries({ title: 'Ingest bytes', description: 'Bytes of stored events appended to the log per second.', unit: 'Bps', queries: [[`sum(${rate('braid_ingest_bytes_total')})`, 'bytes']], width: 6 }),
        timeseries({
          title: 'Log append latency',
          description: 'From a validated request to the log acknowledging it durable (embedded: fsynced; Kafka: acknowledged by all in-sync replicas).',
          unit: 's',
          queries: [[quantile(0.5, 'braid_log_append_seconds'), 'p50'], [quantile(0.99, 'braid_log_append_seconds'), 'p99']],
          width: 6,
        }),
      ],
    ],
    [
      'Log and consumers',
      [
        timeseries({ title: 'Consumer lag by partition', description: 'Per consumer (archive, speed) and partition, records in the log it has not covered. The archive counts records it holds but has not written to a listed file.', unit: 'short', queries: [[`sum by (consumer, partition) (braid_consumer_lag${sel()})`, '{{consumer}} p{{partition}}']], width: 12 }),
        timeseries({
          title: 'Log growth and consumption',
          description: 'Records per second: the log end, and what each consumer covers. The lines overlap when consumers keep up.',
          unit: 'short',
          queries: [[`sum(deriv(braid_log_end_offset${sel()}[$__rate_interval]))`, 'log end'], [`sum by (consumer) (deriv(braid_consumer_offset${sel()}[$__rate_interval]))`, '{{consumer}}']],
          width: 12,
        }),
      ],
    ],
    [
      'Archive',
      [
        timeseries({ title: 'Archive size', description: 'Bytes of the Parquet files the archive manifest lists.', unit: 'bytes', queries: [[`sum(braid_archive_bytes${sel()})`, 'bytes']] }),
        timeseries({ title: 'Archive files and records', description: 'Parquet files listed, and records read but not yet written to a file.', unit: 'short', queries: [[`sum(braid_archive_files${sel()})`, 'files'], [`sum(braid_archive_buffered_records${sel()})`, 'buffered records']] }),
        timeseries({ title: 'Archive compactions', description: 'Runs of small files merged into one, per interval; `archive failed` is 1 when the archiver stopped on an error retrying cannot fix.', unit: 'short', queries: [[`sum(increase(braid_archive_compactions_total${sel()}[$__rate_interval]))`, 'compactions'], [`max(braid_archive_failed${sel()})`, 'archive failed']], bars: true }),
        timeseries({ title: 'Records deleted from the log', description: 'Archived records log.retention has deleted from the log since the process started (0 with a retention of forever); replays read them from the archive.', unit: 'short', queries: [[`sum(braid_log_deleted_records${sel()})`, 'deleted']] }),
        timeseries({ title: 'Audit anomalies', description: 'Anomalies active in the audit trail by kind (GET /v1/audit/anomalies): a key used from many addresses, failed authentications from one address, export or erasure rates above audit.anomalies. The alert BraidAuditAnomaly fires above 0.', unit: 'short', queries: [[`sum by (kind) (braid_audit_anomalies${sel()})`, '{{kind}}']] }),
      ],
    ],
    [
      'Batch',
      [
        timeseries({ title: 'Batch runs by outcome', description: 'Finished batch runs per interval: succeeded or failed. A failed run leaves the previous version serving.', unit: 'short', queries: [[`sum by (outcome) (increase(braid_batch_runs_total${sel()}[$__rate_interval]))`, '{{outcome}}']], bars: true, width: 6 }),
        timeseries({
          title: 'Batch run duration',
          description: 'Successful runs in the last hour: median and 95th percentile of the time from snapshot to publish.',
          unit: 's',
          queries: [
            [`histogram_quantile(0.5, sum by (le) (increase(braid_batch_run_duration_seconds_bucket${sel('outcome="succeeded"')}[1h])))`, 'p50'],
            [`histogram_quantile(0.95, sum by (le) (increase(braid_batch_run_duration_seconds_bucket${sel('outcome="succeeded"')}[1h])))`, 'p95'],
          ],
          width: 6,
        }),
        timeseries({ title: 'Snapshot age over time', description: 'Age of the serving batch version; it drops to zero at every publish. The alert BraidBatchSnapshotTooOld fires above 30 minutes.', unit: 's', queries: [[`max(braid_batch_snapshot_age_seconds${sel()})`, 'age']], width: 6 }),
        timeseries({ title: 'Batch records read', description: 'Archived records that batch runs read, per interval, and whether a run is going.', unit: 'short', queries: [[`sum(increase(braid_batch_records_read_total${sel()}[$__rate_interval]))`, 'records read'], [`max(braid_batch_run_in_progress${sel()})`, 'run in progress']], width: 6 }),
      ],
    ],
    [
      'Speed layer',
      [
        timeseries({ title: 'Speed layer fold rate', description: 'Records per second folded into the views, and duplicates dropped by the dedupe rule.', unit: 'ops', queries: [[`sum(${rate('braid_speed_records_folded_total')})`, 'folded'], [`sum(${rate('braid_speed_duplicates_dropped_total')})`, 'duplicates dropped']], width: 6 }),
        timeseries({ title: 'Speed layer groups', description: 'Groups (bucket and dimension values) held over all views, and segments (one more per batch run not yet published).', unit: 'short', queries: [[`sum(braid_speed_groups${sel()})`, 'groups'], [`sum(braid_speed_segments${sel()})`, 'segments']], width: 6 }),
        timeseries({ title: 'Dedupe state', description: 'Ids remembered to drop duplicates within the dedupe window, and the heap they take (estimate).', unit: 'bytes', queries: [[`sum(braid_speed_dedupe_bytes${sel()})`, 'bytes'], [`sum(braid_speed_dedupe_entries${sel()})`, 'ids']], width: 6 }),
        stat({ title: 'Speed layer time to ready', description: 'How long the speed layer took at start to read the log from the batch snapshot to its end and become ready.', unit: 's', queries: [[`max(braid_speed_ready_seconds${sel()})`, 'time to ready']], width: 3, height: 8 }),
        stat({ title: 'Speed layer rebuilding', description: '1 while the speed layer rebuilds to a batch snapshot it did not cut (it keeps answering from the old pair meanwhile).', unit: 'none', queries: [[`max(braid_speed_rebuilding${sel()})`, 'rebuilding']], steps: [[null, 'green'], [1, 'orange']], width: 3, height: 8 }),
      ],
    ],
    [
      'Queries',
      [
        timeseries({
          title: 'Query latency',
          description: 'Time to answer successful view queries, all views and sources together.',
          unit: 's',
          queries: [[quantile(0.5, 'braid_query_duration_seconds'), 'p50'], [quantile(0.95, 'braid_query_duration_seconds'), 'p95'], [quantile(0.99, 'braid_query_duration_seconds'), 'p99']],
        }),
        timeseries({ title: 'Query latency p99 by view and source', description: '99th percentile per view and source (lambda, batch, speed, kappa).', unit: 's', queries: [[quantile(0.99, 'braid_query_duration_seconds', ['view', 'source']), '{{view}} {{source}}']] }),
        timeseries({ title: 'Query answers by status', description: 'View query answers per second by HTTP status: 200, 400 (bad parameter), 404 (unknown view), 503 (no batch version or replay yet).', unit: 'reqps', queries: [[`sum by (status) (${rate('braid_query_answers_total')})`, '{{status}}']] }),
      ],
    ],
    [
      'Kappa verification',
      [
        stat({ title: 'Mismatching rows', description: 'Rows missing on one side or differing beyond tolerance in the last Lambda-vs-Kappa verification, all views. Anything above 0 is a bug.', unit: 'short', queries: [[`sum(braid_verification_last_mismatching_rows${sel()})`, 'mismatching rows']], steps: [[null, 'green'], [1, 'red']], width: 6 }),
        stat({ title: 'Rows compared', description: 'Rows (bucket and group) the last verification compared, per view.', unit: 'short', queries: [[`sum by (view) (braid_verification_last_rows_compared${sel()})`, '{{view}}']], width: 6 }),
        stat({ title: 'Since the last verification', description: 'Time since the last verification finished.', unit: 's', queries: [[`time() - max(braid_verification_last_timestamp_seconds${sel()} > 0)`, 'since']], width: 6 }),
        timeseries({ title: 'Verifications by outcome', description: 'Finished verifications per interval: match, mismatch, or failed (could not compare).', unit: 'short', queries: [[`sum by (outcome) (increase(braid_verifications_total${sel()}[$__rate_interval]))`, '{{outcome}}']], bars: true, width: 6, height: 4 }),
        timeseries({
          title: 'Replay progress',
          description: 'Share of its target the newest Kappa replay has read, and its read rate (right after start the rate is from its first batches).',
          unit: 'percentunit',
          queries: [[`max(braid_replay_records${sel()} / braid_replay_target_records${sel()})`, 'progress'], [`max(braid_replay_records_per_second${sel()})`, 'records/s']],
          width: 12,
        }),
        timeseries({ title: 'Replay running', description: '1 while a Kappa replay (on its own or for a verification) is going.', unit: 'none', queries: [[`max(braid_replay_running${sel()})`, 'running']], width: 12 }),
      ],
    ],
    [
      'Process',
      [
        timeseries({ title: 'CPU', description: 'CPU seconds per second used by the braid process.', unit: 'percentunit', queries: [[`sum by (instance) (${rate('braid_process_cpu_seconds_total')})`, '{{instance}}']] }),
        timeseries({ title: 'Memory', description: 'Resident memory and the V8 heap in use.', unit: 'bytes', queries: [[`sum by (instance) (braid_process_resident_memory_bytes${sel()})`, 'resident {{instance}}'], [`sum by (instance) (braid_nodejs_heap_size_used_bytes${sel()})`, 'heap used {{instance}}']] }),
        timeseries({ title: 'Event loop lag', description: '99th percentile of the Node.js event loop delay: how long a ready request may wait for the process.', unit: 's', queries: [[`max by (instance) (braid_nodejs_eventloop_lag_p99_seconds${sel()})`, '{{instance}}']] }),
      ],
    ],
  ];
}

export function operationsDashboard(): DashboardBuilder {
  const dashboard = new DashboardBuilder('braid — operations')
    .uid('braid-operations')
    .description('The health of a braid deployment: ingest, the log and its consumers, archive, batch runs, the speed layer, queries, Kappa verification and the process. Metrics from GET /metrics through Prometheus.')
    .tags(['braid'])
    .time({ from: 'now-1h', to: 'now' })
    .refresh('10s')
    // Empty lists rather than absent ones: Grafana reads annotations.list and templating.list.
    .annotations([])
    .withVariable(
      new QueryVariableBuilder('instance')
        .label('Instance')
        .datasource(PROMETHEUS)
        .query('label_values(braid_ready, instance)')
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .includeAll(true)
        .allValue('.*')
        .multi(true),
    );
  for (const [title, panels] of rows()) {
    dashboard.withRow(new RowBuilder(title));
    for (const panel of panels) dashboard.withPanel(panel);
  }
  return dashboard;
}
