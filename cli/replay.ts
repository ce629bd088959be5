import { request } from 'undici';
import { SingleBar, Presets } from 'cli-progress';

export interface ApiOptions {
  readonly url: string;
  readonly apiKey?: string;
  readonly pollMs?: number;
}

async function call<T>(options: ApiOptions, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await request(new URL(path, options.url), {
    method,
    headers: {
      ...(options.apiKey ? { 'x-api-key': options.apiKey } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: (await res.body.json()) as T };
}

interface ReplayInfo {
  id: string;
  state: string;
  target: Record<string, number>;
  progress: { records: number; total: number; rate: number; etaSeconds: number | null };
  error?: string;
  message?: string;
}

/** `braid replay`: a Kappa replay on the server, with a bar showing events/s and the ETA. */
export async function runReplay(options: ApiOptions & { until?: Record<string, number> }): Promise<ReplayInfo> {
  const started = await call<ReplayInfo>(options, 'POST', '/v1/replays', options.until ? { until: options.until } : {});
  if (started.status !== 202) throw new Error(`braid answered ${started.status}: ${started.body.message ?? JSON.stringify(started.body)}`);
  let info = started.body;
  const bar = new SingleBar(
    { format: 'replay [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | ETA {etaText}', stream: process.stderr, noTTYOutput: true, notTTYSchedule: 2_000 },
    Presets.shades_classic,
  );
  bar.start(Math.max(info.progress.total, 1), 0, { rate: 0, etaText: '?' });
  try {
    while (info.state === 'running') {
      await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
      info = (await call<ReplayInfo>(options, 'GET', `/v1/replays/${info.id}`)).body;
      bar.update(info.progress.records, { rate: info.progress.rate, etaText: info.progress.etaSeconds === null ? '?' : `${info.progress.etaSeconds}s` });
    }
  } finally {
    bar.stop();
  }
  return info;
}

interface VerificationInfo {
  id: string;
  state: string;
  ok: boolean | null;
  position?: Record<string, number>;
  viewsChecked: number;
  rowsCompared: number;
  mismatchingRows: number;
  views: Array<{ view: string; ok: boolean; rowsCompared: number; mismatchingRows: number; examples: unknown[] }>;
  error?: string;
  message?: string;
}

/** `braid verify`: one Lambda-vs-Kappa verification on the server, summarised. */
export async function runVerify(options: ApiOptions): Promise<VerificationInfo> {
  const started = await call<VerificationInfo>(options, 'POST', '/v1/verification?trigger=cli');
  if (started.status !== 202) throw new Error(`braid answered ${started.status}: ${started.body.message ?? JSON.stringify(started.body)}`);
  let v = started.body;
  while (v.state === 'running') {
    await new Promise((r) => setTimeout(r, options.pollMs ?? 250));
    v = (await call<VerificationInfo>(options, 'GET', `/v1/verification/${v.id}`)).body;
  }
  return v;
}
