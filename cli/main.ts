import { Command, InvalidArgumentError, Option } from 'commander';
import { isBraidError } from '../shared/errors.js';
import { startBraid } from './start.js';
import { sendFile } from './send.js';
import { runDemo } from './demo.js';
import { kafkaCommand } from './kafka.js';
import { runBatch } from './batch.js';

const int = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};

const program = new Command('braid').description('Lambda-architecture analytics: one log, batch + speed views, exact answers.');

program
  .command('start')
  .description('run braid: ingest and the API over the log (embedded unless Kafka is configured)')
  .addOption(new Option('-c, --config <file>', 'braid.yaml to load').env('BRAID_CONFIG'))
  .addOption(new Option('-p, --port <n>', 'HTTP port (default 8080)').argParser(int('port')).env('BRAID_PORT'))
  .addOption(new Option('--host <addr>', 'address to listen on (default 127.0.0.1)').env('BRAID_HOST'))
  .addOption(new Option('-d, --data-dir <dir>', 'data directory (default ./.braid)').env('BRAID_DATA_DIR'))
  .option('--demo', 'also stream gentle demo traffic into this server')
  .addOption(new Option('--demo-rate <n>', 'demo events per second').argParser(int('demo-rate')).default(20))
  .action(async (opts: { config?: string; port?: number; host?: string; dataDir?: string; demo?: boolean; demoRate: number }) => {
    const running = await startBraid(opts);
    process.stderr.write(`braid is up at ${running.url} (API docs: ${running.url}/docs)\n`);
    const stop = () => {
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('send')
  .description('post an NDJSON or JSON events file to braid in batches, with a progress bar')
  .argument('<file>', 'NDJSON, a JSON array, or {"events": [...]}')
  .addOption(new Option('-u, --url <url>', 'braid server').default('http://127.0.0.1:8080').env('BRAID_URL'))
  .addOption(new Option('-k, --api-key <key>', 'API key for writes').env('BRAID_API_KEY'))
  .addOption(new Option('-b, --batch-size <n>', 'events per request').argParser(int('batch-size')).default(1000))
  .action(async (file: string, opts: { url: string; apiKey?: string; batchSize: number }) => {
    const sent = await sendFile(file, opts);
    process.stderr.write(`sent ${sent} events\n`);
  });

program
  .command('demo')
  .description('generate realistic web-shop events (page views, sign-ups, purchases), with retried duplicates and late events')
  .addOption(new Option('-u, --url <url>', 'braid server to post to').default('http://127.0.0.1:8080').env('BRAID_URL'))
  .addOption(new Option('-k, --api-key <key>', 'API key for writes').env('BRAID_API_KEY'))
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
batch
  .command('run')
  .description('start a batch run on a braid server and follow it with a progress bar')
  .addOption(new Option('-u, --url <url>', 'braid server').default('http://127.0.0.1:8080').env('BRAID_URL'))
  .addOption(new Option('-k, --api-key <key>', 'API key for writes').env('BRAID_API_KEY'))
  .action(async (opts: { url: string; apiKey?: string }) => {
    const run = await runBatch(opts);
    if (run.state === 'failed') {
      process.stderr.write(`batch run ${run.id} failed: ${run.error}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`batch run ${run.id} published version ${run.version} at snapshot ${JSON.stringify(run.snapshot)} (${run.progress.recordsRead} records)\n`);
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
