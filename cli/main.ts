import { Command, InvalidArgumentError, Option } from 'commander';
import { isBraidError } from '../shared/errors.js';
import { startBraid } from './start.js';
import { sendFile } from './send.js';
import { runDemo } from './demo.js';
import { kafkaCommand } from './kafka.js';
import { runBatch, runErasure, runReplay, runVerify } from './jobs.js';
import { BraidClient } from './api.js';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

/** The options of every command that talks to a braid server. */
function serverCommand(command: Command, apiKeyFor = 'API key for writes'): Command {
  return command
    .addOption(new Option('-u, --url <url>', 'braid server').default('http://127.0.0.1:8080').env('BRAID_URL'))
    .addOption(new Option('-k, --api-key <key>', apiKeyFor).env('BRAID_API_KEY'));
}

const program = new Command('braid').description('Lambda-architecture analytics: one log, batch + speed views, exact answers.');

program
  .command('start')
  .description('run braid: ingest and the API over the log (embedded unless Kafka is configured)')
  .addOption(new Option('-c, --config <file>', 'braid.yaml to load').env('BRAID_CONFIG'))
  .addOption(new Option('-p, --port <n>', 'HTTP port (default 8080)').argParser(int('port')).env('BRAID_PORT'))
  .addOption(new Option('--host <addr>', 'address to listen on (default 127.0.0.1)').env('BRAID_HOST'))
  .addOption(new Option('-d, --data-dir <dir>', 'data directory (default ./.braid)').env('BRAID_DATA_DIR'))
  .option('--demo', 'also stream gentle demo traffic into this server')
  .option('--no-parent-watch', 'keep running when the process that started braid exits (by default braid stops with it, as npm and npx expect)')
  .addOption(new Option('--demo-rate <n>', 'demo events per second').argParser(int('demo-rate')).default(20))
  .action(async (opts: { config?: string; port?: number; host?: string; dataDir?: string; demo?: boolean; demoRate: number; parentWatch: boolean }) => {
    const running = await startBraid(opts);
    process.stderr.write(`braid is up at ${running.url} (API docs: ${running.url}/docs)\n`);
    const limit = running.config.server.shutdownTimeoutMs;
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`braid: ${why}; stopping (at most ${Math.round((3 * limit) / 1000)} s)\n`);
      // The last resort: whatever still holds the process after three shutdown bounds is cut
      // off; every store braid writes survives a kill (the log, the archive, the versions).
      setTimeout(() => {
        process.stderr.write('braid: shutdown took too long; exiting\n');
        process.exit(1);
      }, 3 * limit).unref();
      void running.close().then(
        () => process.exit(0),
        (err: unknown) => {
          process.stderr.write(`braid: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exit(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // Started by npm or npx, braid's parent may exit on SIGTERM without passing it on: when the
    // parent goes away (braid is re-parented), braid stops too, rather than run orphaned.
    if (opts.parentWatch) {
      const parent = process.ppid;
      setInterval(() => {
        if (process.ppid !== parent) stop(`its parent process ${parent} exited`);
      }, 500).unref();
    }
  });

serverCommand(program.command('send'))
  .description('post an NDJSON or JSON events file to braid in batches, with a progress bar')
  .argument('<file>', 'NDJSON, a JSON array, or {"events": [...]}')
  .addOption(new Option('-b, --batch-size <n>', 'events per request').argParser(int('batch-size')).default(1000))
  .action(async (file: string, opts: { url: string; apiKey?: string; batchSize: number }) => {
    const sent = await sendFile(file, opts);
    process.stderr.write(`sent ${sent} events\n`);
  });

serverCommand(program.command('demo'))
  .description('generate realistic web-shop events (page views, sign-ups, purchases), with retried duplicates and late events')
  .option('-o, --out <file>', "write NDJSON to a file ('-' for stdout) instead of posting")
  .addOption(new Option('-r, --rate <n>', 'events per second; 0 = as fast as possible').argParser(int('rate')).default(100))
  .addOption(new Option('-n, --count <n>', 'stop after this many events (default: until Ctrl-C)').argParser(int('count')))
  .addOption(new Option('-s, --seed <n>', 'random seed; the same seed gives the same events').argParser(int('seed')).default(42))
  .addOption(new Option('--users <n>', 'distinct users').argParser(int('users')).default(5000))
  .addOption(new Option('--duplicates <share>', 'share of retried duplicates').argParser(Number).default(0.02))
  .addOption(new Option('--late <share>', 'share of late events (hours to days behind)').argParser(Number).default(0.03))
  .addOption(new Option('-b, --batch-size <n>', 'events per request').argParser(int('batch-size')).default(100))
  .action(async (opts: { url: string; apiKey?: string; out?: string; rate: number; count?: number; seed: number; users: number; duplicates: number; late: number; batchSize: number }) => {
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    const n = await runDemo({
      ...opts,
      duplicateRate: opts.duplicates,
      lateRate: opts.late,
      signal: abort.signal,
    });
    process.stderr.write(`demo: ${n} events\n`);
  });

const batch = program.command('batch').description('the batch layer');
serverCommand(batch.command('run'))
  .description('start a batch run on a braid server and follow it with a progress bar (incremental unless --full)')
  .option('--full', 'recompute every view from every archived record, not only the records since the serving version')
  .action(async (opts: { url: string; apiKey?: string; full?: boolean }) => {
    const run = await runBatch(opts);
    if (run.state === 'failed') {
      process.stderr.write(`batch run ${run.id} failed: ${run.error}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`batch run ${run.id} published version ${run.version} at snapshot ${JSON.stringify(run.snapshot)} (${run.mode ?? 'full'}, ${run.progress.recordsRead} records)\n`);
  });

const audit = program.command('audit').description('the audit trail of writes and admin actions');
serverCommand(audit.command('verify'), 'API key with the admin scope')
  .description('walk the audit chain on a braid server and report the first broken link (exit 1 when one is)')
  .action(async (opts: { url: string; apiKey?: string }) => {
    const v = await new BraidClient(opts).auditVerification();
    if (!v.ok) {
      process.stderr.write(`audit trail broken at offset ${v.broken!.offset}${v.broken!.seq === undefined ? '' : ` (entry ${v.broken!.seq})`}: ${v.broken!.problem}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`audit trail intact: ${v.entries} entries, head ${v.head}\n`);
  });

const subject = program.command('subject').description("a data subject's events (an event's key, or its id without one)");
serverCommand(subject.command('export <subject>'), 'API key with the admin scope')
  .description('every stored event of the subject, in log order, as NDJSON on standard output')
  .action(async (key: string, opts: { url: string; apiKey?: string }) => {
    const n = await new BraidClient(opts).subjectEvents(key, process.stdout);
    process.stderr.write(`${n} events\n`);
  });

serverCommand(subject.command('erase <subject>'), 'API key with the admin scope')
  .description("erase every stored event of the subject from every store (a job; see GET /v1/erasures/{id})")
  .option('--wait', 'follow the job with a progress bar until it completes')
  .action(async (key: string, opts: { url: string; apiKey?: string; wait?: boolean }) => {
    const job = await runErasure({ ...opts, subject: key, wait: opts.wait === true });
    process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
    if (job.state === 'failed') process.exitCode = 1;
  });

serverCommand(program.command('replay'))
  .description('run a Kappa replay on a braid server (the whole log through the speed code), with progress')
  .option('--until <position>', 'replay up to this position, as JSON: {"0": 1200, "1": 980} (default: the log end now)')
  .action(async (opts: { url: string; apiKey?: string; until?: string }) => {
    let until: Record<string, number> | undefined;
    if (opts.until) {
      try {
        until = JSON.parse(opts.until) as Record<string, number>;
      } catch {
        throw new InvalidArgumentError('--until must be JSON like {"0": 1200}');
      }
    }
    const info = await runReplay({ url: opts.url, ...(opts.apiKey ? { apiKey: opts.apiKey } : {}), ...(until ? { until } : {}) });
    if (info.state !== 'succeeded') {
      process.stderr.write(`replay ${info.id} failed: ${info.error}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`replay ${info.id} reached ${JSON.stringify(info.target)}: ${info.progress.records} records at ${info.progress.rate}/s; query it with source=kappa\n`);
  });

serverCommand(program.command('verify'))
  .description('compare the Lambda answers with a Kappa replay, view by view; exits 1 on any difference')
  .action(async (opts: { url: string; apiKey?: string }) => {
    const v = await runVerify(opts);
    if (v.state !== 'succeeded') {
      process.stderr.write(`verification ${v.id} failed to run: ${v.error}\n`);
      process.exitCode = 2;
      return;
    }
    for (const view of v.views) {
      process.stdout.write(`${view.ok ? 'ok  ' : 'FAIL'} ${view.view}: ${view.rowsCompared} rows compared, ${view.mismatchingRows} differ\n`);
      if (!view.ok) process.stdout.write(`     worst: ${JSON.stringify(view.examples.slice(0, 3))}\n`);
    }
    process.stdout.write(`${v.ok ? 'Lambda equals Kappa' : 'Lambda DIFFERS from Kappa'} at ${JSON.stringify(v.position)} (${v.viewsChecked} views, ${v.rowsCompared} rows)\n`);
    if (!v.ok) process.exitCode = 1;
  });

program
  .command('kafka')
  .description('a local single-node Kafka broker for development (no Docker)')
  .argument('<action>', 'install | start | stop | status')
  .action(async (action: string) => {
    process.exitCode = await kafkaCommand(action);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  // Known errors carry a message that says what to do; print it without a stack.
  process.stderr.write(`braid: ${isBraidError(err) ? err.message : err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
