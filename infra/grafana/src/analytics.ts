import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { DashboardBuilder, RowBuilder, type DataTransformerConfig, type Panel } from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as TablePanel } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat';
import { GraphDrawStyle } from '@grafana/grafana-foundation-sdk/common';
import { BRAID_API, col, InfinityQueryBuilder, RANGE, type InfinityColumn } from './common.js';

interface Query {
  readonly url: string;
  /** JSONata over the answer, yielding flat rows */
  readonly rows: string;
  readonly columns: readonly InfinityColumn[];
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly queries: readonly Query[];
  readonly unit?: string;
  readonly width?: number;
  readonly height?: number;
  /** a relative time range of its own, e.g. "7d" for a per-day view */
  readonly timeFrom?: string;
  readonly transformations?: readonly DataTransformerConfig[];
}

function targets(queries: readonly Query[]): InfinityQueryBuilder[] {
  return queries.map((q, i) => new InfinityQueryBuilder(String.fromCharCode(65 + i), q.url, q.rows, q.columns));
}

function common<T extends TimeseriesPanel | TablePanel | StatPanel>(panel: T, spec: PanelSpec): T {
  panel
    .title(spec.title)
    .description(spec.description)
    .datasource(BRAID_API)
    .span(spec.width ?? 12)
    .height(spec.height ?? 8)
    .targets(targets(spec.queries));
  if (spec.unit) panel.unit(spec.unit);
  if (spec.timeFrom) panel.timeFrom(spec.timeFrom);
  for (const t of spec.transformations ?? []) panel.withTransformation(t);
  return panel;
}

const timeseries = (spec: PanelSpec & { bars?: boolean }) => {
  const panel = common(new TimeseriesPanel(), spec);
  if (spec.bars) panel.drawStyle(GraphDrawStyle.Bars).fillOpacity(70);
  return panel;
};
const table = (spec: PanelSpec) => common(new TablePanel(), spec);
const stat = (spec: PanelSpec) => common(new StatPanel(), spec);

/** A long table (time, series name, value) → one series per name, for the time series panel. */
const perSeries: DataTransformerConfig = { id: 'prepareTimeSeries', options: { format: 'multi' } };

const sumBy = (key: string, ...sums: string[]): DataTransformerConfig => ({
  id: 'groupBy',
  options: {
    fields: {
      [key]: { aggregations: [], operation: 'groupby' },
      ...Object.fromEntries(sums.map((f) => [f, { aggregations: ['sum'], operation: 'aggregate' }])),
    },
  },
});

function view(name: string, params: string): string {
  return `/v1/views/${name}?${RANGE}&${params}`;
}

/**
 * The rows of the analytics dashboard: the demo views of braid.yaml, read through the
 * serving API (Lambda answers unless a panel says otherwise).
 */
function rows(): Array<[title: string, panels: cog.Builder<Panel>[]]> {
  return [
    [
      'Freshness',
      [
        table({
          title: 'Views',
          description: 'GET /v1/views: every view with its granularity and the batch version it is served from: version, age in seconds, rows.',
          width: 16,
          height: 6,
          queries: [
            {
              url: '/v1/views',
              rows: '[views.{"view": name, "granularity": definition.granularity, "batch version": batch.version, "batch age (s)": batch.ageSeconds, "batch rows": batch.rows}]',
              columns: [col('view', 'string'), col('granularity', 'string'), col('batch version', 'number'), col('batch age (s)', 'number'), col('batch rows', 'number')],
            },
          ],
        }),
        stat({
          title: 'Log and batch',
          description: 'GET /v1/status: records in the log, and the serving batch version with its snapshot age.',
          width: 8,
          height: 6,
          queries: [
            {
              url: '/v1/status',
              rows: '[{"records in the log": log.endTotal, "batch version": batch.version, "snapshot age (s)": batch.snapshotAgeSeconds}]',
              columns: [col('records in the log', 'number'), col('batch version', 'number'), col('snapshot age (s)', 'number')],
            },
          ],
        }),
      ],
    ],
    [
      'Traffic',
      [
        timeseries({
          title: 'Page views and visitors per minute',
          description: 'page_views_by_path over all paths: page views, and distinct visitors (HyperLogLog) per minute.',
          queries: [
            {
              url: view('page_views_by_path', 'group_by='),
              rows: '[rows.{"time": bucket, "views": views, "visitors": visitors}]',
              columns: [col('time', 'timestamp'), col('views', 'number'), col('visitors', 'number')],
            },
          ],
        }),
        table({
          title: 'Top paths',
          description: 'page_views_by_path per path: page views over the time range (daily rows summed).',
          queries: [
            {
              url: view('page_views_by_path', 'granularity=day&group_by=data.path'),
              rows: '[rows.{"path": `data.path`, "views": views}]',
              columns: [col('path', 'string'), col('views', 'number')],
            },
          ],
          transformations: [sumBy('path', 'views'), { id: 'sortBy', options: { sort: [{ field: 'views (sum)', desc: true }] } }],
        }),
        timeseries({
          title: 'Page latency percentiles',
          description: 'page_views_by_path over all paths: median, 95th and 99th percentile of data.latency_ms per minute (log-bucket sketch, 1 % relative accuracy).',
          unit: 'ms',
          queries: [
            {
              url: view('page_views_by_path', 'group_by='),
              rows: '[rows.{"time": bucket, "p50": latency_ms.`0.5`, "p95": latency_ms.`0.95`, "p99": latency_ms.`0.99`}]',
              columns: [col('time', 'timestamp'), col('p50', 'number'), col('p95', 'number'), col('p99', 'number')],
            },
          ],
        }),
        timeseries({
          title: 'Latency p99 by device',
          description: 'latency_by_device: 99th percentile of data.latency_ms per minute and device.',
          unit: 'ms',
          queries: [
            {
              url: view('latency_by_device', 'group_by=data.device'),
              rows: '[rows.{"time": bucket, "device": `data.device`, "p99": latency.`0.99`}]',
              columns: [col('time', 'timestamp'), col('device', 'string'), col('p99', 'number')],
            },
          ],
          transformations: [perSeries],
        }),
      ],
    ],
    [
      'Sales',
      [
        timeseries({
          title: 'Revenue per hour by country',
          description: 'revenue_by_country (web and app purchases): the sum of data.amount per hour and country.',
          bars: true,
          queries: [
            {
              url: view('revenue_by_country', 'group_by=data.country'),
              rows: '[rows.{"time": bucket, "country": `data.country`, "revenue": revenue}]',
              columns: [col('time', 'timestamp'), col('country', 'string'), col('revenue', 'number')],
            },
          ],
          transformations: [perSeries],
        }),
        table({
          title: 'Orders by country and channel',
          description: 'revenue_by_country per day, country and channel: orders, revenue, average basket, distinct buyers, and the 95th percentile of the amount.',
          queries: [
            {
              url: view('revenue_by_country', 'granularity=day&group_by=data.country,data.channel'),
              rows: '[rows.{"day": bucket, "country": `data.country`, "channel": `data.channel`, "orders": orders, "revenue": revenue, "basket": basket, "buyers": buyers, "p95 amount": amount_q.`0.95`}]',
              columns: [
                col('day', 'timestamp'),
                col('country', 'string'),
                col('channel', 'string'),
                col('orders', 'number'),
                col('revenue', 'number'),
                col('basket', 'number'),
                col('buyers', 'number'),
                col('p95 amount', 'number'),
              ],
            },
          ],
        }),
        timeseries({
          title: 'Sign-ups per day by channel',
          description: 'signups_by_channel over the last 7 days: sign-ups per day and channel.',
          bars: true,
          timeFrom: '7d',
          queries: [
            {
              url: view('signups_by_channel', 'group_by=data.channel'),
              rows: '[rows.{"time": bucket, "channel": `data.channel`, "signups": signups}]',
              columns: [col('time', 'timestamp'), col('channel', 'string'), col('signups', 'number')],
            },
          ],
          transformations: [perSeries],
        }),
        timeseries({
          title: 'Orders per hour: lambda, batch and speed',
          description: 'revenue_by_country orders per hour from each source: the batch version alone (up to its snapshot), the speed layer alone (after it), and the merged lambda answer, which is their sum.',
          queries: (['lambda', 'batch', 'speed'] as const).map((source) => ({
            url: view('revenue_by_country', `group_by=&source=${source}`),
            rows: `[rows.{"time": bucket, "${source}": orders}]`,
            columns: [col('time', 'timestamp'), col(source, 'number')],
          })),
        }),
      ],
    ],
  ];
}

export function analyticsDashboard(): DashboardBuilder {
  const dashboard = new DashboardBuilder('braid — analytics')
    .uid('braid-analytics')
    .description("The demo views of braid.yaml through braid's serving API (the Infinity data source, JSON over HTTP): traffic, latency, sales and sign-ups, and how a Lambda answer splits between batch and speed.")
    .tags(['braid'])
    .time({ from: 'now-6h', to: 'now' })
    .refresh('30s')
    // Empty lists rather than absent ones: Grafana reads annotations.list and templating.list.
    .annotations([])
    .variables([]);
  for (const [title, panels] of rows()) {
    dashboard.withRow(new RowBuilder(title));
    for (const panel of panels) dashboard.withPanel(panel);
  }
  return dashboard;
}
