import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { ThresholdsConfigBuilder, ThresholdsMode } from '@grafana/grafana-foundation-sdk/dashboard';

/** The data sources infra/grafana/provisioning/datasources/braid.yaml provisions, by uid. */
export const PROMETHEUS: DataSourceRef = { type: 'prometheus', uid: 'prometheus' };
export const BRAID_API: DataSourceRef = { type: 'yesoreyeram-infinity-datasource', uid: 'braid-api' };

/** The label selector every operations query carries: the `instance` dashboard variable. */
export const INSTANCE = 'instance=~"$instance"';

/** A selector `{instance=~"$instance", ...}` with extra matchers. */
export function sel(...matchers: string[]): string {
  return `{${[INSTANCE, ...matchers].join(', ')}}`;
}

/** A PromQL target; refIds are A, B, C… in the order given. */
export function prom(expr: string, legend: string, refId = 'A'): DataqueryBuilder {
  return new DataqueryBuilder().datasource(PROMETHEUS).expr(expr).legendFormat(legend).refId(refId);
}

export function promTargets(...queries: Array<[expr: string, legend: string]>): DataqueryBuilder[] {
  return queries.map(([expr, legend], i) => prom(expr, legend, String.fromCharCode(65 + i)));
}

export function thresholds(...steps: Array<[value: number | null, color: string]>): ThresholdsConfigBuilder {
  return new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })));
}

/** One column of an Infinity query: what the panel expects in every row the root selector yields. */
export interface InfinityColumn {
  readonly selector: string;
  readonly text: string;
  readonly type: 'string' | 'number' | 'timestamp';
}

/**
 * A query of the Infinity data source (JSON over HTTP) against braid's serving API. The
 * URL is relative: the data source's URL (braid's address) is prefixed to it. The root
 * selector is JSONata (Infinity's "backend" parser) and turns an answer into flat rows,
 * because braid names columns by path (`data.country`), which a plain selector would read
 * as nesting.
 */
export interface InfinityTarget {
  readonly refId: string;
  readonly datasource: DataSourceRef;
  readonly type: 'json';
  readonly source: 'url';
  readonly parser: 'backend';
  readonly format: 'table';
  readonly url: string;
  readonly url_options: { readonly method: 'GET'; readonly data: '' };
  readonly root_selector: string;
  readonly columns: readonly InfinityColumn[];
  readonly filters: readonly never[];
}

export class InfinityQueryBuilder implements cog.Builder<cog.Dataquery> {
  readonly #target: InfinityTarget;

  constructor(refId: string, url: string, rootSelector: string, columns: readonly InfinityColumn[]) {
    this.#target = {
      refId,
      datasource: BRAID_API,
      type: 'json',
      source: 'url',
      parser: 'backend',
      format: 'table',
      url,
      url_options: { method: 'GET', data: '' },
      root_selector: rootSelector,
      columns,
      filters: [],
    };
  }

  build(): cog.Dataquery {
    return { ...this.#target, _implementsDataqueryVariant() {} };
  }
}

/** Query parameters of a view query over the dashboard's (or the panel's) time range. */
export const RANGE = 'from=${__from:date:iso}&to=${__to:date:iso}';

export function col(selector: string, type: InfinityColumn['type'], text = selector): InfinityColumn {
  return { selector, text, type };
}
