import type { ArchiveFile } from './format.js';

export interface CompactionPolicy {
  readonly compactMinFiles: number;
  readonly compactTargetRecords: number;
}

/** Consecutive files of one partition to merge into one. */
export interface CompactionPlan {
  readonly partition: number;
  readonly files: readonly ArchiveFile[];
  readonly records: number;
}

/**
 * The first run of consecutive files of one partition worth merging: at least
 * `compactMinFiles` files, at most `compactTargetRecords` records together, and no file
 * holding more than half of them. The last rule bounds write amplification: a record is
 * rewritten only into a file at least twice the size of the one it leaves, so at most
 * log2(target / flush size) times, however slowly the log grows.
 */
export function planCompaction(files: readonly ArchiveFile[], policy: CompactionPolicy): CompactionPlan | undefined {
  const { compactMinFiles, compactTargetRecords } = policy;
  for (let i = 0; i < files.length; i++) {
    const partition = files[i]!.partition;
    let records = 0;
    let largest = 0;
    let j = i;
    while (j < files.length && files[j]!.partition === partition && records + files[j]!.records <= compactTargetRecords) {
      records += files[j]!.records;
      largest = Math.max(largest, files[j]!.records);
      j++;
    }
    if (j - i >= compactMinFiles && largest * 2 <= records) {
      return { partition, files: files.slice(i, j), records };
    }
  }
  return undefined;
}
