import type { Dashboard, Panel, RowPanel } from '@grafana/grafana-foundation-sdk/dashboard';
import type { InfinityColumn } from './common.js';

/**
 * Reading generated dashboards back: their panels, PromQL expressions and Infinity
 * queries, with Grafana's variables replaced the way Grafana would. The tests use it to
 * run every query a panel makes against a real Prometheus and a real braid.
 */
export function panels(d: Dashboard): Array<Panel | RowPanel> {
  return (d.panels ?? []).flatMap((p) => [p, ...('panels' in p ? p.panels : [])]);
}

interface Target {
  readonly refId?: string;
  readonly datasource?: { type?: string; uid?: string };
  readonly [key: string]: unknown;
}

function targetsOf(p: Panel | RowPanel): Target[] {
  return p.type === 'row' ? [] : (((p as Panel).targets ?? []) as unknown as Target[]);
}

export interface PromQuery {
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

export function promQueries(d: Dashboard): PromQuery[] {
  return panels(d).flatMap((p) =>
    targetsOf(p)
      .filter((t) => t.datasource?.type === 'prometheus')
      .map((t) => ({ panel: p.title ?? '', refId: t.refId ?? '', expr: String(t.expr) })),
  );
}

/** Template variable queries such as `label_values(braid_ready, instance)`. */
export function variableQueries(d: Dashboard): string[] {
  return (d.templating?.list ?? []).flatMap((v) => (typeof v.query === 'string' ? [v.query] : []));
}

export interface InfinityQuery {
  readonly panel: string;
  readonly refId: string;
  readonly url: string;
  readonly rootSelector: string;
  readonly columns: readonly InfinityColumn[];
  /** the panel's own relative time range ("7d"), if it has one */
  readonly timeFrom: string | undefined;
}

export function infinityQueries(d: Dashboard): InfinityQuery[] {
  return panels(d).flatMap((p) =>
    targetsOf(p)
      .filter((t) => t.datasource?.type === 'yesoreyeram-infinity-datasource')
      .map((t) => ({
        panel: p.title ?? '',
        refId: t.refId ?? '',
        url: String(t.url),
        rootSelector: String(t.root_selector),
        columns: t.columns as InfinityColumn[],
        timeFrom: (p as Panel).timeFrom,
      })),
  );
}

/** The metric names (braid_…) a PromQL expression reads. */
export function metricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(braid_[A-Za-z0-9_]+)\b/g)].map((m) => m[1]!))];
}

/** PromQL as Grafana sends it: `$__rate_interval` and the `instance` variable ("All") replaced. */
export function interpolatePromQL(expr: string, rateInterval = '1m'): string {
  return expr.replaceAll('$__rate_interval', rateInterval).replaceAll('$instance', '.*');
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "now-6h" or "6h" → milliseconds back from now. */
export function relativeMs(range: string): number {
  const m = /^(?:now-)?(\d+)([smhd])$/.exec(range);
  if (!m) throw new Error(`unsupported relative time "${range}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** An Infinity URL as Grafana sends it for the time range [from, to). */
export function interpolateUrl(url: string, from: Date, to: Date): string {
  return url.replaceAll('${__from:date:iso}', from.toISOString()).replaceAll('${__to:date:iso}', to.toISOString());
}
