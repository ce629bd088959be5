import { Counter, Histogram, type Registry } from 'prom-client';
import { Sources } from '../query/index.js';

/** Statuses a view query answers with: an answer, a bad query, an unknown view, not ready yet. */
const QueryStatuses = ['200', '400', '404', '503'] as const;

/** Query metrics (GET /v1/views/:name), registered on the passed-in registry. */
export interface QueryMetrics {
  /** successful answers only, so fast 4xx answers do not pull the percentiles down */
  readonly seconds: Histogram<'view' | 'source'>;
  readonly answers: Counter<'view' | 'source' | 'status'>;
  /** the label of a view name a client asked for: the view, or `unknown` (a typo must not create a series) */
  viewLabel(name: string): string;
  /** the label of a source a client asked for */
  sourceLabel(source: unknown): string;
}

export function createQueryMetrics(registry: Registry, views: readonly string[]): QueryMetrics {
  const known = new Set(views);
  const seconds = new Histogram({
    name: 'braid_query_duration_seconds',
    help: 'Time to answer a successful view query, by view and source (lambda, batch, speed, kappa).',
    labelNames: ['view', 'source'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const answers = new Counter({
    name: 'braid_query_answers_total',
    help: 'View query answers by view, source and HTTP status; an unknown view or source is labelled "unknown".',
    labelNames: ['view', 'source', 'status'],
    registers: [registry],
  });
  // Every view, source and usual status from the start, so rate() sees the first answers too.
  for (const view of known) {
    for (const source of Sources) {
      seconds.zero({ view, source });
      for (const status of QueryStatuses) answers.inc({ view, source, status }, 0);
    }
  }
  return {
    seconds,
    answers,
    viewLabel: (name) => (known.has(name) ? name : 'unknown'),
    sourceLabel: (source) => ((Sources as readonly unknown[]).includes(source) ? (source as string) : 'unknown'),
  };
}
