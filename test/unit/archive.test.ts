import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkManifest, fileName, planCompaction, positionOf } from '../../batch/archive/index.js';
import type { ArchiveFile, CompactionPolicy, Manifest } from '../../batch/archive/index.js';
import { toArchiveRow } from '../../batch/archive/row.js';
import { isBraidError } from '../../shared/errors.js';
import { encodeEvent, type StoredEvent } from '../../shared/events/index.js';

function file(partition: number, from: number, to: number, records = to - from): ArchiveFile {
  return { path: fileName(partition, from, to), partition, from, to, records, bytes: 100, sha256: '0'.repeat(64) };
}

/** Files of one partition, contiguous from `start`, with the given record counts. */
function run(partition: number, sizes: readonly number[], start = 0): ArchiveFile[] {
  let from = start;
  return sizes.map((n) => file(partition, from, (from += n)));
}

function manifestProblem(manifest: unknown): string | undefined {
  try {
    checkManifest(manifest, 'test');
    return undefined;
  } catch (err) {
    expect(isBraidError(err, 'archive_corrupt')).toBe(true);
    return (err as Error).message;
  }
}

describe('archive manifest', () => {
  it('names each partition position by the end of its last file, 0 when it has none', () => {
    const manifest: Manifest = { generation: 3, partitions: 3, files: [...run(0, [5, 5]), ...run(2, [7])] };
    expect(positionOf(manifest)).toEqual({ 0: 10, 1: 0, 2: 7 });
  });

  it('accepts contiguous ranges from 0, also with offsets skipped inside a file', () => {
    expect(manifestProblem({ generation: 1, partitions: 2, files: [file(0, 0, 10, 7), file(0, 10, 12), file(1, 0, 3)] })).toBeUndefined();
  });

  it.each([
    ['a gap', [file(0, 0, 10), file(0, 11, 12)], /starts at offset 11 of partition 0 where 10 was expected \(a gap\)/],
    ['an overlap', [file(0, 0, 10), file(0, 9, 12)], /\(an overlap\)/],
    ['a first file not at 0', [file(0, 2, 10)], /a gap/],
    ['more records than offsets', [file(0, 0, 10, 11)], /11 records for \[0, 10\)/],
    ['a path that is not the range', [{ ...file(0, 0, 10), path: 'partition=0/x.parquet' }], /path/],
    ['a partition out of range', [file(2, 0, 10)], /partition is 2/],
    ['partitions out of order', [file(1, 0, 10), file(0, 0, 10)], /out of order/],
  ])('refuses %s with archive_corrupt', (_, files, message) => {
    expect(manifestProblem({ generation: 1, partitions: 2, files })).toMatch(message);
  });
});

describe('compaction planning', () => {
  const policy: CompactionPolicy = { compactMinFiles: 4, compactTargetRecords: 1_000 };

  it('merges the first run of at least compactMinFiles small files of one partition', () => {
    const files = [...run(0, [100, 100, 100]), ...run(1, [100, 100, 100, 100, 100])];
    const plan = planCompaction(files, policy);
    expect(plan?.partition).toBe(1);
    expect(plan?.files).toEqual(files.slice(3));
    expect(plan?.records).toBe(500);
  });

  it('leaves runs shorter than compactMinFiles, and never merges beyond compactTargetRecords', () => {
    expect(planCompaction(run(0, [100, 100, 100]), policy)).toBeUndefined();
    expect(planCompaction(run(0, [400, 400, 400, 400]), policy)).toBeUndefined();
    expect(planCompaction(run(0, [1_000, 10, 10, 10, 10]), policy)?.files.map((f) => f.records)).toEqual([10, 10, 10, 10]);
  });

  it('does not rewrite a file that would be more than half of the merged one', () => {
    expect(planCompaction(run(0, [700, 10, 10, 10]), policy)).toBeUndefined();
    expect(planCompaction(run(0, [700, 10, 10, 10, 10]), policy)?.files.map((f) => f.records)).toEqual([10, 10, 10, 10]);
  });

  it('keeps the ranges contiguous and rewrites each record a bounded number of times while files arrive', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 120 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 50, max: 5_000 }),
        (flushes, compactMinFiles, compactTargetRecords) => {
          const policy = { compactMinFiles, compactTargetRecords };
          let files: ArchiveFile[] = [];
          let end = 0;
          const rewrites = new Map<number, number>(); // first offset of a flush → times its records were rewritten
          for (const n of flushes) {
            files.push(file(0, end, end + n));
            rewrites.set(end, 0);
            end += n;
            for (let plan = planCompaction(files, policy); plan; plan = planCompaction(files, policy)) {
              expect(plan.files.length).toBeGreaterThanOrEqual(compactMinFiles);
              expect(plan.records).toBeLessThanOrEqual(compactTargetRecords);
              const at = files.indexOf(plan.files[0]!);
              const merged = file(0, plan.files[0]!.from, plan.files.at(-1)!.to, plan.records);
              files = [...files.slice(0, at), merged, ...files.slice(at + plan.files.length)];
              for (const [from, count] of rewrites) if (from >= merged.from && from < merged.to) rewrites.set(from, count + 1);
            }
            expect(manifestProblem({ generation: 0, partitions: 1, files })).toBeUndefined();
          }
          expect(files.reduce((sum, f) => sum + f.records, 0)).toBe(end);
          // Each rewrite at least doubles the size of the file a record is in.
          const bound = Math.ceil(Math.log2(compactTargetRecords)) + 1;
          for (const count of rewrites.values()) expect(count).toBeLessThanOrEqual(bound);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('archive rows from log records', () => {
  const record = (value: string) => ({ partition: 2, offset: 9, appendTime: 1_700_000_000_000, key: 'k', value: Buffer.from(value, 'utf8') });
  const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 });
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.double(), fc.integer(), text, fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), tie('object')),
    object: fc.dictionary(text, tie('value'), { maxKeys: 4 }),
  })).value;
  const event = fc.record(
    { id: text, type: text, time: fc.integer({ min: 0, max: 4_102_444_800_000 }), key: text, data: fc.dictionary(text, json, { maxKeys: 4 }) },
    { requiredKeys: ['id', 'type', 'time'] },
  );

  it('reads every field of the stored form exactly as JSON.parse does, with escapes, unicode and nesting', () => {
    fc.assert(
      fc.property(event, (e) => {
        const stored = encodeEvent(e as StoredEvent);
        const parsed = JSON.parse(stored.toString('utf8')) as StoredEvent;
        expect(toArchiveRow(record(stored.toString('utf8')))).toEqual({
          partition: 2,
          offset: 9,
          appendTime: 1_700_000_000_000,
          id: parsed.id,
          type: parsed.type,
          time: parsed.time,
          key: parsed.key ?? null,
          data: parsed.data === undefined ? null : JSON.stringify(parsed.data),
        });
      }),
      { numRuns: 500 },
    );
  });

  it('also reads events written in another field order or with whitespace', () => {
    const row = toArchiveRow(record('{ "time": 5, "data": {"a": [1, 2]}, "type": "t", "id": "x" }'));
    expect(row).toMatchObject({ id: 'x', type: 't', time: 5, key: null, data: '{"a":[1,2]}' });
  });

  it.each([
    ['not JSON', 'nope', /not JSON/],
    ['no id', '{"type":"t","time":1}', /no string id and type/],
    ['a time that is not epoch ms', '{"id":"a","type":"t","time":"2026-01-01"}', /time is not epoch milliseconds/],
    ['data that is not an object', '{"id":"a","type":"t","time":1,"data":[1]}', /data is not an object/],
  ])('refuses a record with %s, naming its partition and offset', (_, value, problem) => {
    const err = (() => {
      try {
        return toArchiveRow(record(value));
      } catch (e) {
        return e;
      }
    })();
    expect(isBraidError(err, 'log_corrupt')).toBe(true);
    expect((err as Error).message).toMatch(problem);
    expect((err as Error).message).toContain('offset 9 of partition 2');
  });
});
