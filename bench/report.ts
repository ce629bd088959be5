/**
 * What every bench reports, and how `bench/run.ts` collects it.
 *
 * A bench run with `--json` prints one line per comparison on stdout, `BENCH_RESULT {json}`,
 * beside whatever else it prints; the runner keeps those lines. A comparison carries the
 * check that both sides computed the same answer: when they did not, it carries the problems
 * and no figures (a fast wrong answer is not a result).
 */
import { readFileSync } from 'node:fs';

export const RESULT_PREFIX = 'BENCH_RESULT ';

export interface Latency {
  p50: number;
  p99: number;
  max: number;
}

/** One side of a comparison, measured. */
export interface Measured {
  /** what ran, e.g. "braid POST /v1/events, embedded log" */
  name: string;
  /** braid itself, the peer a user would pick instead, or the ceiling neither can pass */
  side: 'braid' | 'peer' | 'ceiling';
  eventsPerSecond?: number;
  requestsPerSecond?: number;
  seconds?: number;
  /** ms: acknowledgement, answer or event-to-visible latency, whichever the item measures */
  latencyMs?: Latency;
  /** peak resident set of the process that did the work, MiB */
  peakRssMB?: number;
  /** anything else worth keeping in the JSON (not in the table) */
  extra?: Record<string, unknown>;
}

export interface Check {
  /** both sides (and the exact answer, where there is one) agree */
  same: boolean;
  /** what was compared, in a sentence */
  what: string;
  problems: string[];
}

export interface Comparison {
  /** the item: 1 stream aggregation, 2 ingest, 3 batch, 4 query, 5 freshness, 6 cost growth, 7 erasure */
  item: number;
  title: string;
  /** the scale of this comparison, e.g. "1,000,000 events" or "100,000 groups" */
  size: string;
  check: Check;
  /** empty when check.same is false */
  results: Measured[];
  /** named ratios, e.g. braidOverStreams */
  ratios?: Record<string, number>;
  extra?: Record<string, unknown>;
}

/** Prints a comparison for the runner; drops the figures when the answers differ. */
export function emit(c: Comparison): void {
  const out = c.check.same ? c : { ...c, results: [], ratios: undefined };
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(out)}\n`);
}

/** The comparisons in a bench's stdout. */
export function collect(stdout: string): Comparison[] {
  // Anywhere in a line: a tool run before may have left text without a newline.
  return stdout
    .split('\n')
    .filter((line) => line.includes(RESULT_PREFIX))
    .map((line) => JSON.parse(line.slice(line.indexOf(RESULT_PREFIX) + RESULT_PREFIX.length)) as Comparison);
}

export const round = (x: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** p50/p99/max of a list of latencies (ms), to 0.1 ms; nearest rank. */
export function latencySummary(values: readonly number[]): Latency {
  if (values.length === 0) throw new Error('no latencies to summarise');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!, 1);
  return { p50: at(0.5), p99: at(0.99), max: round(sorted.at(-1)!, 1) };
}

/** Peak RSS of this process, MiB. */
export const ownPeakRssMB = (): number => round(process.resourceUsage().maxRSS / 1024, 0);

/**
 * Peak RSS of another live process, MiB: VmHWM, the kernel's high-water mark of its
 * resident set. Read it before the process exits.
 */
export function peakRssOfPid(pid: number): number {
  const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for process ${pid}`);
  return round(Number(m[1]) / 1024, 0);
}
