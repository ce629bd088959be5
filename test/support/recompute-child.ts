/**
 * A process that runs one batch run, for the kill test (test/integration/recompute-kill.test.ts):
 *
 *   node --import tsx test/support/recompute-child.ts <dataDir> <archiveDir> <files.json>
 *
 * prints one JSON line per change of the run's state or progress, e.g.
 * {"state":"computing","viewsDone":1}, and "done <state>" at the end.
 */
import { readFile } from 'node:fs/promises';
import type { ArchiveFile } from '../../batch/archive/index.js';
import { equivalenceViews } from './recompute-events.js';
import { createTestRunner } from './recompute-runner.js';

const [dataDir, archiveDir, filesJson] = process.argv.slice(2);
if (!dataDir || !archiveDir || !filesJson) throw new Error('usage: recompute-child.ts <dataDir> <archiveDir> <files.json>');
const files = JSON.parse(await readFile(filesJson, 'utf8')) as ArchiveFile[];

const runner = await createTestRunner({ dataDir, archiveDir, files }, equivalenceViews, { threads: 1 });
const { id } = runner.start('cli');
let last = '';
const timer = setInterval(() => {
  const run = runner.getRun(id)!;
  const line = JSON.stringify({ state: run.state, viewsDone: run.progress.viewsDone, duplicates: run.progress.duplicates ?? null });
  if (line !== last) process.stdout.write(`${(last = line)}\n`);
}, 1);
const info = await runner.wait(id);
clearInterval(timer);
process.stdout.write(`done ${info.state} ${info.error ?? ''}\n`);
await runner.close();
