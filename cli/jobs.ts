import type { BatchRunBody, ReplayBody, VerificationBody } from '../serving/schemas.js';
import type { ErasureInfo } from '../lambda/erasure.js';
import { BraidClient, type ClientOptions } from './api.js';
import { progressBar } from './progress.js';

/**
 * `braid batch run`: starts a run on a braid server (which owns the log and the archive)
 * and follows it with a progress bar until it succeeds or fails.
 */
export async function runBatch(options: ClientOptions & { readonly full?: boolean }): Promise<BatchRunBody> {
  const client = new BraidClient(options);
  const first = await client.startBatchRun(options.full ? { full: true } : {});
  const bar = progressBar(`batch run ${first.id.slice(0, 8)}`, Math.max(first.progress.viewsTotal, 1), 'views');
  try {
    return await client.follow(first, (id) => client.batchRun(id), (run) => bar.update(run.progress.viewsDone));
  } finally {
    bar.stop();
  }
}

/** `braid replay`: a Kappa replay on the server, with a bar showing events/s and the ETA. */
export async function runReplay(options: ClientOptions & { until?: Record<string, number> }): Promise<ReplayBody> {
  const client = new BraidClient(options);
  const first = await client.startReplay(options.until ? { until: options.until } : {});
  const bar = progressBar('replay', Math.max(first.progress.total, 1), 'events');
  try {
    return await client.follow(first, (id) => client.replay(id), (r) => bar.update(r.progress.records, { rate: r.progress.rate, etaSeconds: r.progress.etaSeconds }));
  } finally {
    bar.stop();
  }
}

/** `braid verify`: one Lambda-vs-Kappa verification on the server, followed to its end. */
export async function runVerify(options: ClientOptions): Promise<VerificationBody> {
  const client = new BraidClient(options);
  return client.follow(await client.startVerification(), (id) => client.verification(id));
}

/**
 * `braid subject erase`: requests a subject's erasure; with `wait`, follows the job with a bar
 * over its steps (archive, log, batch, speed, replay) until it completes or fails.
 */
export async function runErasure(options: ClientOptions & { readonly subject: string; readonly wait?: boolean }): Promise<ErasureInfo> {
  const client = new BraidClient(options);
  const first = await client.eraseSubject(options.subject);
  if (!options.wait) return first;
  const bar = progressBar(`erasure ${first.id.slice(0, 8)}`, first.progress.stepsTotal, 'steps');
  try {
    return await client.follow(first, (id) => client.erasure(id), (job) => bar.update(job.progress.stepsDone));
  } finally {
    bar.stop();
  }
}
