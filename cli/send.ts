import { readFile } from 'node:fs/promises';
import type { RawEvent } from '../shared/demo/generator.js';
import { BraidClient, type ClientOptions } from './api.js';
import { progressBar } from './progress.js';

export interface SendOptions extends ClientOptions {
  readonly batchSize: number;
}

/** Reads a JSON array, {"events": [...]} or NDJSON file and posts it in batches. */
export async function sendFile(file: string, options: SendOptions): Promise<number> {
  const text = await readFile(file, 'utf8');
  const events = parseEventsFile(text, file);
  const client = new BraidClient(options);
  const bar = progressBar(`send ${file}`, events.length, 'events');
  let sent = 0;
  try {
    for (let i = 0; i < events.length; i += options.batchSize) {
      sent += await client.postEvents(events.slice(i, i + options.batchSize));
      bar.update(sent);
    }
  } finally {
    bar.stop();
  }
  return sent;
}

export function parseEventsFile(text: string, file: string): RawEvent[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[') || (trimmed.startsWith('{') && /^\{\s*"events"/.test(trimmed))) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) return parsed as RawEvent[];
      if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { events?: unknown }).events)) {
        return (parsed as { events: RawEvent[] }).events;
      }
    } catch {
      // not one JSON document: fall through to NDJSON
    }
  }
  return text
    .split('\n')
    .map((line, i) => [line.trim(), i + 1] as const)
    .filter(([line]) => line !== '')
    .map(([line, n]) => {
      try {
        return JSON.parse(line) as RawEvent;
      } catch (err) {
        throw new Error(`${file}:${n}: not valid JSON (${(err as Error).message}); the file must be a JSON array or NDJSON`);
      }
    });
}
