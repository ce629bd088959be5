import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ArchiveFile } from '../../batch/archive/index.js';
import { archivePosition, writeTestArchive, type TestRecord } from '../support/recompute-archive.js';
import { tableDifferences } from '../support/recompute-compare.js';
import { TestEvents, valuesProfile } from '../support/events.js';
import { dedupeReference, equivalenceViews, foldReference } from '../support/recompute-events.js';
import { createTestRunner, currentFile, versionsDir } from '../support/recompute-runner.js';

const child = fileURLToPath(new URL('../support/recompute-child.ts', import.meta.url));

let root: string;
let dataDir: string;
let archiveDir: string;
let filesJson: string;
let records: TestRecord[];
let files: ArchiveFile[];

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'braid-recompute-kill-'));
  dataDir = path.join(root, 'data');
  archiveDir = path.join(root, 'archive');
  filesJson = path.join(root, 'files.json');
  // Big enough that a run takes a few seconds on one thread, so kills land mid-way.
  records = new TestEvents(8, { profile: valuesProfile }).records(120_000, 2);
  files = await writeTestArchive(archiveDir, records, 15_000);
  await writeFile(filesJson, JSON.stringify(files));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

interface Progress {
  state: string;
  viewsDone: number;
  duplicates: number | null;
}

/** Runs the child until a progress line satisfies `at`, then SIGKILLs it; resolves with that line. */
function runAndKill(at: (p: Progress) => boolean): Promise<Progress> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dataDir, archiveDir, filesJson], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let buffered = '';
    let hit: Progress | undefined;
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while (!hit && (nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        out += `${line}\n`;
        if (!line.startsWith('{')) continue;
        const p = JSON.parse(line) as Progress;
        if (at(p)) {
          hit = p;
          proc.kill('SIGKILL');
        }
      }
    });
    proc.on('exit', (code, signal) => {
      if (hit && signal === 'SIGKILL') resolve(hit);
      else reject(new Error(`the child ended (${code ?? signal}) before the kill point:\n${out}`));
    });
  });
}

describe('a batch run killed with SIGKILL', () => {
  it('leaves the previous version serving, and the next run cleans up and succeeds', async () => {
    const expected = foldReference(equivalenceViews, dedupeReference(records, archivePosition(files), 60_000));
    const first = await createTestRunner({ dataDir, archiveDir, files }, equivalenceViews);
    const run = await first.wait(first.start('api').id);
    expect(run.state).toBe('succeeded');
    const before = await readFile(currentFile(dataDir), 'utf8');
    await first.close();

    const points: Array<[string, (p: Progress) => boolean]> = [
      ['before any view, while deduplicating', (p) => p.state === 'computing' && p.duplicates === null],
      ['after the first view', (p) => p.state === 'computing' && p.viewsDone === 1],
      ['after the second view', (p) => p.state === 'computing' && p.viewsDone === 2], // the biggest, 'codes', is next
    ];
    for (const [name, at] of points) {
      await runAndKill(at);
      expect(await readFile(currentFile(dataDir), 'utf8'), name).toBe(before);
      // Killed mid-way: the version being written is still there, half done.
      expect((await readdir(versionsDir(dataDir))).sort(), name).toEqual(['.tmp-0000000002', '0000000001']);
    }
    // A kill while publishing leaves either the old version or the new one serving, both complete.
    await runAndKill((p) => p.state === 'publishing');
    const pointer = JSON.parse(await readFile(currentFile(dataDir), 'utf8')) as { version: number };
    expect([1, 2]).toContain(pointer.version);

    const next = await createTestRunner({ dataDir, archiveDir, files }, equivalenceViews);
    const leftovers = (await readdir(versionsDir(dataDir))).filter((d) => d.startsWith('.') || Number(d) > pointer.version);
    expect(leftovers).toEqual([]);
    expect(await readdir(path.join(dataDir, 'batch'))).toEqual(expect.not.arrayContaining(['tmp', 'CURRENT.json.tmp']));
    const serving = next.current()!;
    expect(serving.version).toBe(pointer.version);
    for (const view of equivalenceViews) {
      expect(tableDifferences(serving.tables.get(view.def.name)!, expected.get(view.def.name)!), view.def.name).toEqual([]);
    }

    const after = await next.wait(next.start('api').id);
    expect(after).toMatchObject({ state: 'succeeded', version: pointer.version + 1 });
    expect((await readdir(versionsDir(dataDir))).filter((d) => d.startsWith('.'))).toEqual([]);
    for (const view of equivalenceViews) {
      expect(tableDifferences(next.current()!.tables.get(view.def.name)!, expected.get(view.def.name)!), view.def.name).toEqual([]);
    }
    await next.close();
  });
});
