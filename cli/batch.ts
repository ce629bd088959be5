import { request } from 'undici';
import { progressBar } from './progress.js';

export interface BatchRunCliOptions {
  readonly url: string;
  readonly apiKey?: string;
  /** poll interval, ms */
  readonly pollMs?: number;
}

interface RunInfo {
  id: string;
  state: string;
  progress: { viewsDone: number; viewsTotal: number; recordsRead: number };
  snapshot?: Record<string, number>;
  version?: number;
  error?: string;
}

/**
 * `braid batch run`: starts a run on a braid server (which owns the log and the archive)
 * and follows it with a progress bar until it succeeds or fails.
 */
export async function runBatch(options: BatchRunCliOptions): Promise<RunInfo> {
  const started = await request(new URL('/v1/batch/runs?trigger=cli', options.url), {
    method: 'POST',
    headers: options.apiKey ? { 'x-api-key': options.apiKey } : {},
  });
  const body = (await started.body.json()) as RunInfo & { message?: string };
  if (started.statusCode !== 202) throw new Error(`braid answered ${started.statusCode}: ${body.message ?? JSON.stringify(body)}`);
  let run = body;
  const bar = progressBar(`batch run ${run.id.slice(0, 8)}`, Math.max(run.progress.viewsTotal, 1));
  try {
    while (run.state !== 'succeeded' && run.state !== 'failed') {
      await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
      const res = await request(new URL(`/v1/batch/runs/${run.id}`, options.url));
      run = (await res.body.json()) as RunInfo;
      bar.update(run.progress.viewsDone);
    }
  } finally {
    bar.stop();
  }
  return run;
}
