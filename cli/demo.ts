import { createWriteStream } from 'node:fs';
import { sleep } from '../shared/async.js';
import { DemoGenerator, type DemoOptions } from '../shared/demo/generator.js';
import { BraidClient } from './api.js';
import { progressBar } from './progress.js';

export interface DemoRunOptions extends Partial<DemoOptions> {
  /** events per second; 0 = as fast as the server takes them */
  readonly rate: number;
  /** stop after this many events; undefined = until stopped */
  readonly count?: number;
  readonly batchSize: number;
  /** post to this braid... */
  readonly url?: string;
  readonly apiKey?: string;
  /** ...or write NDJSON here ('-' for stdout) */
  readonly out?: string;
  readonly signal?: AbortSignal;
  readonly quiet?: boolean;
}

/** Streams demo events to a braid server or an NDJSON file at a steady rate. */
export async function runDemo(options: DemoRunOptions): Promise<number> {
  const generator = new DemoGenerator(options);
  const sink = options.out !== undefined ? fileSink(options.out) : undefined;
  const bar = options.count !== undefined && !options.quiet ? progressBar('demo', options.count, 'events') : undefined;
  const client = sink ? undefined : new BraidClient({ url: options.url ?? 'http://127.0.0.1:8080', ...(options.apiKey ? { apiKey: options.apiKey } : {}) });
  const started = Date.now();
  let produced = 0;
  try {
    while (!options.signal?.aborted && (options.count === undefined || produced < options.count)) {
      const n = Math.min(options.batchSize, (options.count ?? Infinity) - produced);
      const events = generator.batch(n, Date.now());
      if (sink) await sink.write(events.map((e) => JSON.stringify(e)).join('\n') + '\n');
      else await client!.postEvents(events);
      produced += n;
      bar?.update(produced);
      if (options.rate > 0) {
        const due = started + (produced / options.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait, options.signal);
      }
    }
  } finally {
    bar?.stop();
    await sink?.close();
  }
  return produced;
}

function fileSink(path: string) {
  const stream = path === '-' ? process.stdout : createWriteStream(path);
  return {
    write: (chunk: string) =>
      new Promise<void>((resolve, reject) => {
        stream.write(chunk, (err) => (err ? reject(err) : resolve()));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (stream === process.stdout) return resolve();
        stream.end(() => resolve());
      }),
  };
}
