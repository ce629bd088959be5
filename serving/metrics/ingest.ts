import { Counter, Histogram, type Registry } from 'prom-client';
import { ErrorCodes } from '../../shared/errors.js';

export const IngestOutcomes = ['accepted', 'rejected', 'failed'] as const;

/** Ingest metrics (POST /v1/events), registered on the registry the process passes in (never the global one). */
export interface IngestMetrics {
  readonly requests: Counter<'outcome'>;
  readonly events: Counter<'outcome'>;
  readonly rejections: Counter<'reason'>;
  readonly bytes: Counter;
  readonly appendSeconds: Histogram;
}

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const metrics: IngestMetrics = {
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
  // Every label value known in advance starts at zero, so rate() and alerts see the first one.
  for (const outcome of IngestOutcomes) {
    metrics.requests.inc({ outcome }, 0);
    metrics.events.inc({ outcome }, 0);
  }
  for (const reason of Object.keys(ErrorCodes)) metrics.rejections.inc({ reason }, 0);
  return metrics;
}
