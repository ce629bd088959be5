import { Gauge, type Registry } from 'prom-client';
import { AnomalyKinds } from '../../shared/audit/anomalies.js';
import type { LogHandle } from '../../shared/log/handle.js';
import type { BraidNode } from '../../lambda/index.js';
import { registerArchiveMetrics } from './archive.js';
import { registerBatchMetrics } from './batch.js';
import { registerKappaMetrics } from './kappa.js';
import { registerLogMetrics } from './log.js';
import { registerSpeedMetrics } from './speed.js';

export { createIngestMetrics, IngestOutcomes, type IngestMetrics } from './ingest.js';
export { createQueryMetrics, type QueryMetrics } from './query.js';

/**
 * The metrics of the log and of the roles, one family per file, on the registry the process
 * passes in. Most are read from the components' own state when Prometheus scrapes; batch
 * runs and verifications are counted by hooks, because a scrape would miss what finished
 * between two. The catalogue is listed in README ("Metrics") and used by infra/grafana and
 * infra/prometheus.
 */
export interface RoleMetricsOptions {
  readonly registry: Registry;
  readonly log: LogHandle;
  readonly node?: BraidNode;
  /** which role families to register: those of a role this process never runs stay out */
  readonly roles: { readonly archive: boolean; readonly batch: boolean; readonly speed: boolean };
}

export function registerRoleMetrics({ registry, log, node, roles }: RoleMetricsOptions): void {
  registerLogMetrics(registry, {
    log,
    rolesReady: () => node?.readiness().ready ?? true,
    consumers: () => [
      ['archive', node?.archiver?.position()],
      ['speed', node?.speed?.position()],
    ],
    ...(node ? { retention: () => node.retention?.totals() } : {}),
  });
  if (!node) return;
  if (roles.archive) registerArchiveMetrics(registry, () => node.archiver?.stats());
  if (roles.batch) {
    registerBatchMetrics(registry, {
      present: () => node.batch !== undefined,
      current: () => node.batch?.current(),
      running: () => node.batch?.runs().some((r) => r.finishedAt === undefined) ?? false,
      onRunFinished: (listener) => node.onBatchRunFinished(listener),
    });
  }
  if (roles.speed) registerSpeedMetrics(registry, () => (node.speed?.ready ? node.speed.stats() : undefined));
  new Gauge({
    name: 'braid_audit_anomalies',
    help: 'Anomalies active now in the audit stream (GET /v1/audit/anomalies), by kind: key_addresses, failed_auth, exports, erasures.',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      this.reset();
      const active = node.audit?.anomalies.active();
      if (!active) return;
      for (const kind of AnomalyKinds) this.set({ kind }, active.filter((a) => a.kind === kind).length);
    },
  });
  registerKappaMetrics(registry, {
    newestReplay: () => (node.replayer ? { replay: node.replayer.replays()[0] } : undefined),
    lastVerification: () => (node.verifier ? { verification: node.verifier.last() } : undefined),
    onVerificationFinished: (listener) => node.onVerificationFinished(listener),
  });
}
