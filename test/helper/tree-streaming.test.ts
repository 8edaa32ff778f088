/**
 * The previous tree streams (issue #14: a million files within 200 MB): a re-run of a
 * directory against a previous tree of 200,000 files, read from its blobs, with the changes
 * tracked, runs in a child process whose old space is capped at 32 MB. Holding the previous
 * tree whole (an array or a map of its entries, ~250 bytes each) needs ~50 MB and runs out of
 * heap there; the streamed merge needs a few MB. The second test proves the cap bites: the
 * child made to hold the tree fails.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./tree-streaming-child.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRIES = 200_000;
const OLD_SPACE_MB = 32;

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'cbt_tree_stream_'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function child(dir: string, mode?: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [`--max-old-space-size=${OLD_SPACE_MB}`, '--import', 'tsx', CHILD, join(work, dir), String(ENTRIES), ...(mode ? [mode] : [])], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
  });
}

test(`a re-run against a previous tree of ${ENTRIES} files fits a ${OLD_SPACE_MB} MB old space`, { timeout: 300_000 }, () => {
  const run = child('streamed');
  assert.equal(run.status, 0, String(run.stderr).slice(-3000));
  const result = JSON.parse(String(run.stdout).trim().split('\n').pop()!) as { counts: { added: number; modified: number; removed: number }; listed: number; peakHeapBytes: number };
  process.stdout.write(`# previous tree of ${ENTRIES} files: ${JSON.stringify(result)}\n`);
  assert.deepEqual(result.counts, { added: 3, modified: 0, removed: ENTRIES }, 'every previous file was met by the merge and counted');
  assert.ok(result.listed > 0 && result.listed < 10_000, `only the first paths are listed (${result.listed})`);
});

test('the cap bites: a child that holds the previous tree whole runs out of heap', { timeout: 300_000 }, () => {
  const run = child('held', 'hold');
  assert.notEqual(run.status, 0, 'holding 200,000 entries should not fit the capped old space');
  assert.match(String(run.stderr), /heap out of memory|Allocation failed/i);
});
