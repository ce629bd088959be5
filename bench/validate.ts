/**
 * The CPU of one ingest request's events, per event, step by step (no HTTP, no log): the UTF-8
 * check and decode of the body, JSON.parse, the number-literal check over the text
 * (changedNumberLiterals), and validation with the stored encoding (validateEvents, which
 * makes each event's bytes once).
 *
 *   node --import tsx bench/validate.ts [--requests 2000] [--events 100]
 */
import { parseArgs } from 'node:util';
import { changedNumberLiterals, defaultEventLimits, firstInvalidUtf8, validateEvents } from '../shared/events/index.js';

const { values: args } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, events: { type: 'string', default: '100' } } });
const requests = Number(args.requests);
const perRequest = Number(args.events);
const now = Date.now();
// Ids with "e-<digits>" on purpose: text a cheap pre-check of number literals could mistake for an exponent.
const bodies = Array.from({ length: requests }, (_, j) =>
  Buffer.from(
    JSON.stringify(
      Array.from({ length: perRequest }, (_, i) => ({
        id: `e-${j}-${i}`,
        type: 'page_view',
        time: new Date(now - i * 1000).toISOString(),
        key: `user-${i % 977}`,
        data: { path: `/p/${i % 30}`, country: ['NL', 'US', 'GB'][i % 3], device: 'mobile', latency_ms: i },
      })),
    ),
  ),
);
const events = requests * perRequest;
for (let run = 1; run <= 3; run++) {
  const ms = { utf8: 0, parse: 0, literals: 0, validateAndEncode: 0 };
  let accepted = 0;
  for (const body of bodies) {
    let t = performance.now();
    if (firstInvalidUtf8(body) !== -1) throw new Error('the body is not UTF-8');
    const text = body.toString('utf8');
    ms.utf8 += performance.now() - t;
    t = performance.now();
    const input = JSON.parse(text) as unknown[];
    ms.parse += performance.now() - t;
    t = performance.now();
    if (changedNumberLiterals(text).length > 0) throw new Error('a literal would change');
    ms.literals += performance.now() - t;
    t = performance.now();
    const result = validateEvents(input, defaultEventLimits, now);
    ms.validateAndEncode += performance.now() - t;
    if (!result.ok) throw new Error(JSON.stringify(result.problems.slice(0, 3)));
    accepted += result.values.length;
  }
  if (accepted !== events) throw new Error(`accepted ${accepted} of ${events}`);
  const perEvent = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Math.round((v * 1e6) / events) / 1000]));
  process.stdout.write(`${JSON.stringify({ run, events, microsecondsPerEvent: perEvent })}\n`);
}
