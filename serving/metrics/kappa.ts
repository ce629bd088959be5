import { Counter, Gauge, type Registry } from 'prom-client';
import type { Verification } from '../../lambda/index.js';
import type { ReplayInfo } from '../../speed/replay.js';
import { stateGauge } from './family.js';

export interface KappaMetricsSource {
  /** undefined while the replayer is not running; else its newest replay, if any */
  readonly newestReplay: () => { readonly replay: ReplayInfo | undefined } | undefined;
  /** undefined while no verifier runs (mode kappa, no speed role); else its last finished verification */
  readonly lastVerification: () => { readonly verification: Verification | undefined } | undefined;
  readonly onVerificationFinished: (listener: (v: Verification) => void) => void;
}

const VerificationOutcomes = ['match', 'mismatch', 'failed'] as const;

const outcomeOf = (v: Verification) => (v.state !== 'succeeded' ? 'failed' : v.ok ? 'match' : 'mismatch');

/** Kappa replays (progress of the newest) and Lambda-vs-Kappa verifications (outcomes, the last one's rows). */
export function registerKappaMetrics(registry: Registry, source: KappaMetricsSource): void {
  const newest = () => source.newestReplay()?.replay;
  stateGauge(registry, 'braid_replay_running', '1 while a Kappa replay is going.', () => {
    const replays = source.newestReplay();
    return replays ? (replays.replay?.state === 'running' ? 1 : 0) : undefined;
  });
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
  source.onVerificationFinished((v) => verifications.inc({ outcome: outcomeOf(v) }));

  const last = () => source.lastVerification()?.verification;
  stateGauge(registry, 'braid_verification_last_timestamp_seconds', 'When the last verification finished; 0 = never.', () => {
    const verifier = source.lastVerification();
    if (!verifier) return undefined;
    const finished = verifier.verification?.finishedAt;
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
      const outcome = outcomeOf(v);
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
