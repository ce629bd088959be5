import { DemoGenerator, type DemoOptions } from '../shared/demo/generator.js';
import { parseEventTime, type StoredEvent } from '../shared/events/index.js';

/** N demo events spread evenly over the day before now (seed 7), stored as braid stores them. */
export function* demoDay(n: number, options: Partial<DemoOptions> = {}): Generator<StoredEvent> {
  const generator = new DemoGenerator({ seed: 7, ...options });
  const start = Date.now() - 86_400_000;
  const step = 86_400_000 / n;
  for (let i = 0; i < n; i++) {
    const raw = generator.next(Math.floor(start + i * step));
    const time = parseEventTime(raw.time);
    if (!time.ok) throw new Error(time.reason);
    yield { id: raw.id, type: raw.type, time: time.ms, ...(raw.key ? { key: raw.key } : {}), ...(raw.data ? { data: raw.data } : {}) };
  }
}
