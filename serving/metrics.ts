import { Counter, Histogram, type Registry } from 'prom-client';

/** Ingest metrics, registered on the registry the process passes in (never the global one). */
export interface IngestMetrics {
  readonly requests: Counter<'outcome'>;
  readonly events: Counter<'outcome'>;
  readonly rejections: Counter<'reason'>;
  readonly bytes: Counter;
  readonly appendSeconds: Histogram;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  return {
    requests: new Counter({
      name: 'braid_ingest_requests_total',
      help: 'Ingest requests by outcome (accepted, rejected, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    events: new Counter({
      name: 'braid_ingest_events_total',
      help: 'Events in ingest requests by outcome (accepted, rejected, failed).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    rejections: new Counter({
      name: 'braid_ingest_rejections_total',
      help: 'Rejected or failed ingest requests by error code.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    bytes: new Counter({
      name: 'braid_ingest_bytes_total',
      help: 'Bytes of stored events appended to the log.',
      registers: [registry],
    }),
    appendSeconds: new Histogram({
      name: 'braid_log_append_seconds',
      help: 'Time from a validated request to the log acknowledging it durable.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}

/** Query metrics (GET /v1/views/:name), registered on the passed-in registry. */
export interface QueryMetrics {
  /** successful answers only, so fast 4xx answers do not pull the percentiles down */
  readonly seconds: Histogram<'view' | 'source'>;
  readonly answers: Counter<'view' | 'source' | 'status'>;
}

export function createQueryMetrics(registry: Registry): QueryMetrics {
  return {
    seconds: new Histogram({
      name: 'braid_query_duration_seconds',
      help: 'Time to answer a successful view query, by view and source (lambda, batch, speed, kappa).',
      labelNames: ['view', 'source'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    answers: new Counter({
      name: 'braid_query_answers_total',
      help: 'View query answers by view, source and HTTP status; an unknown view or source is labelled "unknown".',
      labelNames: ['view', 'source', 'status'],
      registers: [registry],
    }),
  };
}
