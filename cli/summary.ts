import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import type { LogHandle } from '../shared/log/handle.js';
import { lagBehind, totalOffsets } from '../shared/log/position.js';
import type { BraidNode } from '../lambda/index.js';

export interface SummaryOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  readonly log: LogHandle;
  readonly node: BraidNode;
  /** ms between two lines; 0 for none */
  readonly intervalMs: number;
}

/**
 * A periodic one-line summary of the process — events accepted per second, how far the
 * archive and the speed layer are behind the log, the last batch run — in place of a line
 * per request. Returns the function that stops it.
 */
export function startSummary({ logger, registry, log, node, intervalMs }: SummaryOptions): () => void {
  if (intervalMs <= 0) return () => undefined;
  let last = { at: Date.now(), accepted: 0 };
  const accepted = async () => {
    const counter = registry.getSingleMetric('braid_ingest_events_total') as Counter | undefined;
    const values = (await counter?.get())?.values ?? [];
    return values.find((v) => v.labels.outcome === 'accepted')?.value ?? 0;
  };
  const tick = async () => {
    const current = log.current();
    if (!current) return;
    const now = Date.now();
    const total = await accepted();
    const perSecond = Math.round(((total - last.accepted) * 1_000) / Math.max(now - last.at, 1));
    last = { at: now, accepted: total };
    const end = await current.endPosition();
    const behind = (at: Record<number, number> | undefined) => (at ? totalOffsets(lagBehind(end, at)) : null);
    const run = node.batch?.runs()[0];
    const lastRun = run ? { state: run.state, version: run.version ?? null, secondsAgo: Math.round((now - Date.parse(run.finishedAt ?? run.startedAt)) / 1000) } : null;
    const lag = { archive: behind(node.archiver?.position()), speed: behind(node.speed?.position()) };
    const runText = lastRun ? `${lastRun.state}${lastRun.version !== null ? `, version ${lastRun.version}` : ''}, ${lastRun.secondsAgo} s ago` : 'none yet';
    logger.info(
      { acceptedPerSecond: perSecond, lag, lastBatchRun: lastRun },
      `${perSecond} events/s accepted; behind the log: archive ${lag.archive ?? '-'}, speed ${lag.speed ?? '-'} records; last batch run: ${runText}`,
    );
  };
  const timer = setInterval(() => void tick().catch((err: unknown) => logger.debug({ err }, 'summary skipped')), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
