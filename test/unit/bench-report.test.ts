import { afterEach, describe, expect, it, vi } from 'vitest';
import { collect, emit, latencySummary, RESULT_PREFIX, type Comparison } from '../../bench/report.js';
import { README_END, README_START, renderMarkdown, replaceBetweenMarkers, type BenchRun } from '../../bench/table.js';

const comparison = (same: boolean, eventsPerSecond: number): Comparison => ({
  item: 1,
  title: 'Stream aggregation vs Kafka Streams',
  size: `${eventsPerSecond} events`,
  check: { same, what: 'every group', problems: same ? [] : ['group 1|DE: count braid 3, streams 4, exact 4'] },
  results: [
    { name: 'braid speed layer', side: 'braid', eventsPerSecond, latencyMs: { p50: 1.5, p99: 12, max: 340 }, peakRssMB: 512 },
    { name: 'Kafka Streams', side: 'peer', eventsPerSecond: eventsPerSecond * 2, peakRssMB: 700 },
  ],
  ratios: { braidOverStreams: 0.5 },
});

const run = (comparisons: Comparison[]): BenchRun => ({
  date: '2026-11-28T01:00:00.000Z',
  quick: true,
  machine: { cpu: 'Xeon', cores: 2, memoryGiB: 24, node: 'v20.19.0', loadavgAtStart: [1, 0.5, 0.2] },
  comparisons,
  failures: [],
  totalSeconds: 200,
});

describe('bench report', () => {
  afterEach(() => vi.restoreAllMocks());

  it('emits a comparison whose answers differ without its figures, and collect reads it back among other output', () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (lines.push(String(s)), true));
    emit(comparison(true, 123_456));
    emit(comparison(false, 654_321));
    // The first line after text a tool left without a newline (Maven's colour codes).
    const [good, bad] = collect(['a table', `\u001b[0m${lines[0]!.trimEnd()}`, lines[1]!.trimEnd(), 'more notes'].join('\n'));
    expect(lines.every((l) => l.startsWith(RESULT_PREFIX))).toBe(true);
    expect(good!.results).toHaveLength(2);
    expect(good!.ratios).toEqual({ braidOverStreams: 0.5 });
    expect(bad!.results).toEqual([]);
    expect(bad!.ratios).toBeUndefined();
    expect(bad!.check.problems).toEqual(['group 1|DE: count braid 3, streams 4, exact 4']);
  });

  it('summarises latencies by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted
    expect(latencySummary(values)).toEqual({ p50: 50, p99: 99, max: 100 });
    expect(latencySummary([7])).toEqual({ p50: 7, p99: 7, max: 7 });
    expect(() => latencySummary([])).toThrow(/no latencies/);
  });

  it('renders every figure of a matching comparison and none of one whose answers differ', () => {
    const md = renderMarkdown(run([comparison(true, 123_456), comparison(false, 654_321)]));
    expect(md).toContain('### 1. Stream aggregation vs Kafka Streams');
    expect(md).toContain('| 123456 events | braid | braid speed layer | 123,456 | – | 1.5 / 12 / 340 | 512 |');
    expect(md).toContain('| 123456 events | peer | Kafka Streams | 246,912 |');
    expect(md).toContain('braidOverStreams 0.5');
    expect(md).toContain('| 654321 events | – | **answers differ: no figures** |');
    expect(md).toContain('**the answers differ**');
    expect(md).not.toContain('654,321');
    expect(md).not.toContain('1,308,642');
    expect(md).toContain('2 cores (Xeon), 24 GiB');
  });

  it('lists benches that crashed', () => {
    const md = renderMarkdown({ ...run([]), failures: [{ item: 2, label: 'ingest, 20,000 events', error: 'ingest.ts exited 1' }] });
    expect(md).toContain('### Benches that failed');
    expect(md).toContain('- item 2, ingest, 20,000 events: ingest.ts exited 1');
  });

  it('replaces only what stands between the README markers', () => {
    const readme = `# braid\n\n## Performance\n\n${README_START}\nold table\n${README_END}\n\n## Architecture\n`;
    const next = replaceBetweenMarkers(readme, 'new table');
    expect(next).toBe(`# braid\n\n## Performance\n\n${README_START}\nnew table\n${README_END}\n\n## Architecture\n`);
    expect(replaceBetweenMarkers(next, 'newer')).toContain(`${README_START}\nnewer\n${README_END}`);
    expect(() => replaceBetweenMarkers('# no markers', 'x')).toThrow(/no bench markers/);
  });
});
