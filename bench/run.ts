/**
 * Every comparison against the peers a user would pick instead, in one run (issue 7):
 *
 *   npm run bench                  the full run (1 M and 10 M events; about half an hour here)
 *   npm run bench -- --quick       the same comparisons at small sizes, under five minutes
 *   npm run bench -- --only 1,3    some items only
 *
 * Items: 1 stream aggregation vs Kafka Streams (bench/streams.ts: over unique ids, and, but at
 * 10 M, over 2 % retried ids with the peer deduping in a state store; each side 3 runs,
 * medians), 2 ingest vs the raw
 * producer and the embedded log (bench/ingest.ts), 3 batch recomputation vs DuckDB alone
 * (bench/recompute.ts), 4 query serving (bench/query.ts), 5 freshness (bench/freshness.ts),
 * 6 cost growth (bench/growth.ts: incremental batch runs, start-up and resumed replays at two
 * histories in one comparison), 7 erasure (bench/erasure.ts: one data subject's erasure job
 * and its steps, ingest while it runs beside ingest without, the speed layer's catch-up over
 * 1 % erased records beside none; one size, the embedded log, and the Kafka log in the full
 * run); each at two sizes, each bench in fresh processes so peak RSS is per process.
 *
 * Starts the Kafka broker (infra/kafka/kafka.sh, which fetches the jars once) unless one
 * answers already or BRAID_KAFKA_BROKERS is set, and stops what it started. Each bench
 * checks that both sides computed the same answer before it reports a figure; a failed
 * check, or a bench that crashed, is in the table as such and makes the exit code 1.
 *
 * Writes bench/results/<date>[-quick].json (machine, commit, every comparison) and .md
 * (the table, also printed). A full run replaces the README's performance table (between
 * its bench markers); --readme does that for a quick run too, --no-readme never.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { collect, RESULT_PREFIX, type Comparison } from './report.js';
import { renderMarkdown, replaceBetweenMarkers, type BenchRun } from './table.js';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    readme: { type: 'boolean' },
    'no-readme': { type: 'boolean', default: false },
    brokers: { type: 'string', default: process.env.BRAID_KAFKA_BROKERS ?? '127.0.0.1:9092' },
  },
});
const quick = args.quick!;
const brokers = args.brokers!;
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');

/** One bench process to run: an item, a label for progress, the file and its arguments. */
interface Step {
  item: number;
  label: string;
  file: string;
  args: string[];
}

/** The plan: each item at two sizes; --quick shrinks sizes and durations, not the comparisons. */
function plan(): Step[] {
  const k = ['--brokers', brokers];
  const streams = quick ? [100_000, 300_000] : [1_000_000, 10_000_000];
  const ingest = quick ? [20_000, 100_000] : [200_000, 1_000_000];
  const recompute = quick ? [100_000, 500_000] : [1_000_000, 10_000_000];
  const duration = quick ? '3' : '10';
  const probes = quick ? '50' : '300';
  const rates = [10_000, 50_000];
  const logs = quick ? ['embedded'] : ['embedded', 'kafka'];
  const erasure = quick ? 200_000 : 2_000_000;
  return [
    // The topic with retries (the peer deduping) at 10 M is left out: filling a second 10 M topic
    // after the first left kafkajs' idempotent producer without an acknowledgement for minutes
    // (4 of 4 tries, before and after KafkaLog's batching; bench/README.md), so at 10 M item 1
    // compares over unique ids only.
    ...streams.map((n, i) => ({ item: 1, label: `stream aggregation, ${n.toLocaleString('en-US')} events`, file: 'streams.ts', args: [String(n), ...k, ...(i > 0 ? ['--skip-build'] : []), ...(n >= 10_000_000 ? ['--dedupe', 'none'] : [])] })),
    ...ingest.map((n) => ({ item: 2, label: `ingest, ${n.toLocaleString('en-US')} events`, file: 'ingest.ts', args: ['--events', String(n), '--clients', '8', '--batches', '100,1000', ...k] })),
    ...recompute.map((n) => ({ item: 3, label: `batch recomputation, ${n.toLocaleString('en-US')} events`, file: 'recompute.ts', args: ['--events', String(n)] })),
    ...(quick ? [10_000, 100_000] : [100_000, 1_000_000]).map((g) => ({ item: 4, label: `query serving, ${g.toLocaleString('en-US')} groups`, file: 'query.ts', args: ['--groups', String(g), '--duration', duration] })),
    ...logs.flatMap((log) =>
      rates.map((r) => ({ item: 5, label: `freshness, ${r.toLocaleString('en-US')} events/s, ${log} log`, file: 'freshness.ts', args: ['--log', log, '--rate', String(r), '--probes', probes, ...k] })),
    ),
    {
      item: 6,
      label: `cost growth, ${quick ? '100,000 and 1,000,000' : '1,000,000 and 10,000,000'} events of history`,
      file: 'growth.ts',
      args: quick ? ['--histories', '100000,1000000', '--new', '10000'] : ['--histories', '1000000,10000000', '--new', '100000'],
    },
    // The fold over erased records is the embedded log's alone: once, with the embedded run.
    ...logs.map((log) => ({
      item: 7,
      label: `erasure, ${erasure.toLocaleString('en-US')} events, ${log} log`,
      file: 'erasure.ts',
      args: ['--events', String(erasure), '--log', log, '--ingest-seconds', quick ? '3' : '10', '--repeats', quick ? '5' : '3', ...(log === 'kafka' ? ['--fold-events', '0'] : []), ...k],
    })),
  ];
}

const say = (s: string) => process.stderr.write(`${s}\n`);
const seconds = (since: number) => Math.round((performance.now() - since) / 100) / 10;

/** Runs one bench with --json, its own output passed through; resolves with its comparisons. */
async function runStep(step: Step): Promise<{ comparisons: Comparison[]; error?: string }> {
  const child = spawn(process.execPath, ['--max-old-space-size=8192', '--import', 'tsx', join(here, step.file), ...step.args, '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    // The bench's own table and notes, whole lines, not the machine-readable ones.
    const lines = (partial + s).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim() && !line.includes(RESULT_PREFIX)) say(`    ${line}`);
  });
  // 'close': the process has exited and its output is read to the end.
  const code = await new Promise<number | string>((resolve) => child.on('close', (c, signal) => resolve(c ?? signal ?? -1)));
  const what = `${step.file} ${step.args.join(' ')}`;
  let comparisons: Comparison[];
  try {
    comparisons = collect(stdout);
  } catch (err) {
    return { comparisons: [], error: `${what} printed a result line that is not JSON (${(err as Error).message})` };
  }
  // A failed check exits 1 too, but says so in its comparison; anything else is a crash.
  if (code !== 0 && comparisons.every((c) => c.check.same)) return { comparisons, error: `${what} exited ${code}` };
  if (comparisons.length === 0) return { comparisons, error: `${what} exited ${code} without a result` };
  return { comparisons };
}

function brokerAnswers(): Promise<boolean> {
  const [host, port] = brokers.split(',')[0]!.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(port) }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function kafkaSh(command: 'start' | 'stop'): void {
  const r = spawnSync('bash', [join(root, 'infra', 'kafka', 'kafka.sh'), command], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`infra/kafka/kafka.sh ${command} exited ${r.status ?? r.signal}`);
}

function machine(): BenchRun['machine'] {
  const sh = (cmd: string, a: string[]) => {
    try {
      return execFileSync(cmd, a, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch {
      return undefined;
    }
  };
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' }).stderr?.split('\n')[0];
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    java,
    kernel: sh('uname', ['-sr']),
    commit: sh('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function main(): Promise<void> {
  const only = args.only ? new Set(args.only.split(',').map(Number)) : undefined;
  const steps = plan().filter((s) => !only || only.has(s.item));
  const started = performance.now();
  const run: BenchRun = { date: new Date().toISOString(), quick, machine: machine(), comparisons: [], failures: [] };

  const needsKafka = steps.some((s) => s.item === 1 || s.item === 2 || s.args.includes('kafka'));
  let startedKafka = false;
  if (needsKafka && !process.env.BRAID_KAFKA_BROKERS && !(await brokerAnswers())) {
    say('starting the Kafka broker (infra/kafka/kafka.sh start)');
    kafkaSh('start');
    startedKafka = true;
  }
  try {
    for (const [i, step] of steps.entries()) {
      const t = performance.now();
      say(`[${i + 1}/${steps.length}] item ${step.item}: ${step.label} (run so far ${seconds(started)} s)`);
      const { comparisons, error } = await runStep(step);
      run.comparisons.push(...comparisons);
      if (error) run.failures.push({ item: step.item, label: step.label, error });
      const bad = comparisons.filter((c) => !c.check.same).length;
      say(`[${i + 1}/${steps.length}] done in ${seconds(t)} s${error ? `: FAILED (${error})` : bad ? `: ${bad} check(s) FAILED` : ''}`);
    }
  } finally {
    if (startedKafka) kafkaSh('stop');
  }
  run.totalSeconds = seconds(started);
  run.machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);

  const results = join(here, 'results');
  mkdirSync(results, { recursive: true });
  const base = join(results, `${run.date.slice(0, 10)}${quick ? '-quick' : ''}${only ? `-items-${[...only].join('-')}` : ''}`);
  const markdown = renderMarkdown(run);
  writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown);
  process.stdout.write(`\n${markdown}`);
  say(`wrote ${base}.json and ${base}.md in ${run.totalSeconds} s`);

  const readme = !args['no-readme'] && (args.readme ?? (!quick && !only));
  if (readme) {
    const file = join(root, 'README.md');
    writeFileSync(file, replaceBetweenMarkers(readFileSync(file, 'utf8'), markdown));
    say('updated the performance table in README.md');
  }
  if (run.failures.length > 0 || run.comparisons.some((c) => !c.check.same)) process.exitCode = 1;
}

await main();
