/**
 * The markdown of a bench run (bench/run.ts): one table per item, every size in it, then
 * each comparison's check and ratios. Pure, so the unit tests can hold it to its promises:
 * no figure is shown for a comparison whose answers differed.
 */
import type { Comparison, Measured } from './report.js';

export interface BenchRun {
  date: string;
  quick: boolean;
  machine: {
    cpu: string;
    cores: number;
    memoryGiB: number;
    node: string;
    java?: string | undefined;
    kernel?: string | undefined;
    commit?: string | undefined;
    loadavgAtStart: number[];
    loadavgAtEnd?: number[];
  };
  comparisons: Comparison[];
  /** benches that crashed: no comparison from them */
  failures: Array<{ item: number; label: string; error: string }>;
  totalSeconds?: number;
}

export const README_START = '<!-- bench:start (written by npm run bench) -->';
export const README_END = '<!-- bench:end -->';

const TITLES: Record<number, string> = {
  1: 'Stream aggregation vs Kafka Streams',
  2: 'Ingest vs the raw producer and the embedded log',
  3: 'Batch recomputation vs DuckDB alone',
  4: 'Query serving (Lambda answers)',
  5: 'Freshness (event to visible)',
  6: 'Cost growth (incremental runs, start-up, resumed replays)',
  7: 'Data-subject erasure (the job, ingest beside it, the fold over erased records)',
};

const int = (x: number | undefined) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const num = (x: number | undefined) => (x === undefined ? '–' : x >= 100 ? int(x) : String(Math.round(x * 10) / 10));

function latency(m: Measured): string {
  const l = m.latencyMs;
  return l ? `${num(l.p50)} / ${num(l.p99)} / ${num(l.max)}` : '–';
}

/** Table cells must not break the table. */
const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

function itemSection(item: number, comparisons: Comparison[]): string[] {
  const lines = [`### ${item}. ${TITLES[item] ?? comparisons[0]!.title}`, ''];
  // An item whose sides are timed (cost growth) shows the time, the others do not need it.
  const timed = comparisons.some((c) => c.results.some((m) => m.seconds !== undefined && m.eventsPerSecond === undefined && m.requestsPerSecond === undefined));
  lines.push(
    `| size | side | what ran | events/s | requests/s | latency p50 / p99 / max (ms) |${timed ? ' seconds |' : ''} peak RSS (MiB) |`,
    `| --- | --- | --- | --- | --- | --- |${timed ? ' --- |' : ''} --- |`,
  );
  for (const c of comparisons) {
    if (!c.check.same) {
      lines.push(`| ${cell(c.size)} | – | **answers differ: no figures** | – | – | – |${timed ? ' – |' : ''} – |`);
      continue;
    }
    for (const m of c.results) {
      lines.push(`| ${cell(c.size)} | ${m.side} | ${cell(m.name)} | ${int(m.eventsPerSecond)} | ${num(m.requestsPerSecond)} | ${latency(m)} |${timed ? ` ${m.seconds === undefined ? '–' : m.seconds} |` : ''} ${int(m.peakRssMB)} |`);
    }
  }
  lines.push('');
  for (const c of comparisons) {
    if (c.check.same) {
      const ratios = Object.entries(c.ratios ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
      lines.push(`- ${cell(c.size)}: same answer (${c.check.what})${ratios ? `. Ratios: ${ratios}` : ''}.`);
    } else {
      lines.push(`- ${cell(c.size)}: **the answers differ** (${c.check.what}): ${c.check.problems.slice(0, 5).map(cell).join('; ')}${c.check.problems.length > 5 ? `; and ${c.check.problems.length - 5} more` : ''}.`);
    }
  }
  lines.push('');
  return lines;
}

/** The sections of some comparisons alone, for a bench run on its own. */
export function renderComparisons(comparisons: Comparison[]): string {
  const items = [...new Set(comparisons.map((c) => c.item))].sort((a, b) => a - b);
  return items.flatMap((item) => itemSection(item, comparisons.filter((c) => c.item === item))).join('\n');
}

export function renderMarkdown(run: BenchRun): string {
  const m = run.machine;
  const lines = [
    `Measured ${run.date.slice(0, 10)} by \`npm run bench${run.quick ? ' -- --quick' : ''}\`${m.commit ? ` at commit ${m.commit}` : ''}, in ${run.totalSeconds ?? '?'} s: ` +
      `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, ${m.kernel ?? 'Linux'}, Node ${m.node}${m.java ? `, ${m.java}` : ''}; ` +
      `load average ${m.loadavgAtStart.join(' ')} at the start${m.loadavgAtEnd ? `, ${m.loadavgAtEnd.join(' ')} at the end` : ''}. ` +
      'Side: braid, the peer a user would pick instead, or the ceiling neither can pass. Peak RSS is of the process that did the work.',
    '',
  ];
  lines.push(renderComparisons(run.comparisons));
  if (run.failures.length > 0) {
    lines.push('### Benches that failed', '');
    for (const f of run.failures) lines.push(`- item ${f.item}, ${cell(f.label)}: ${cell(f.error)}`);
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

/** The text with what stood between the bench markers replaced (markers kept). */
export function replaceBetweenMarkers(text: string, content: string): string {
  const start = text.indexOf(README_START);
  const end = text.indexOf(README_END, start);
  if (start < 0 || end < start) throw new Error(`the README has no bench markers: put ${README_START} and ${README_END} in its performance section`);
  return `${text.slice(0, start + README_START.length)}\n${content}\n${text.slice(end)}`;
}
