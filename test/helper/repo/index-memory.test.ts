/**
 * The in-memory index of a repository with 1,000,000 blobs (4,000 packs of 250 blobs, as
 * 16 MiB packs of ~64 KiB blobs give) must stay compact: the loaded table is measured in a
 * child process (RSS after GC) and must stay under 90 MB (Node 20: ~70), the table's arrays under 66 MB; lookups must still be right.
 * (80 MB: index files are read from their bytes into reused buffers; reading them with
 * readFile and JSON.parse left the RSS at 88 MB.)
 * CIVIBACKUP_TEST_INDEX_BLOBS changes the count (the figure in docs/format.md is for 1M).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./index-memory-child.ts', import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BLOBS = Number(process.env.CIVIBACKUP_TEST_INDEX_BLOBS ?? 1_000_000);
const PER_PACK = 250;

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'cbt_repo_mem_'));
  writeFileSync(join(root, 'repository.json'), JSON.stringify({ format: 'civibackup-repository', version: 1, id: '0123456789abcdef', encrypted: false, createdAt: new Date().toISOString() }));
  const hex = (text: string): string => createHash('sha256').update(text).digest('hex');
  for (let first = 0; first < BLOBS; first += PER_PACK) {
    const pack = hex(`pack ${first}`);
    const blobs: unknown[] = [];
    let offset = 0;
    for (let i = first; i < Math.min(BLOBS, first + PER_PACK); i += 1) {
      const length = 40_000 + (i % 50_000);
      blobs.push([hex(`blob ${i}`), offset, length, 'gzip', length * 3, hex(`stored ${i}`)]);
      offset += length;
    }
    mkdirSync(join(root, 'index', pack.slice(0, 2)), { recursive: true });
    writeFileSync(join(root, 'index', pack.slice(0, 2), `${pack}.json`), JSON.stringify({ pack, header: 0, blobs }));
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

test(`the loaded index of ${BLOBS} blobs stays compact`, { timeout: 600_000 }, () => {
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', CHILD, root], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const result = JSON.parse(run.stdout.trim().split('\n').pop() as string) as { rssBytes: number; heapBytes: number; arrayBuffers: number; lookupsOk: boolean; packsOrEntries: number };
  process.stdout.write(`# index memory for ${BLOBS} blobs: ${JSON.stringify(result)}\n`);
  assert.equal(result.packsOrEntries, Math.ceil(BLOBS / PER_PACK));
  assert.ok(result.lookupsOk, 'ids are found with the right lengths; an unknown id is not');
  // The table itself: 49 bytes an entry in pages plus 8-16 bytes of hash slots.
  assert.ok(result.arrayBuffers < 66 * BLOBS, `table arrays ${JSON.stringify(result)}`);
  // The process: the table plus what the allocator keeps after reading 4,000 index files
  // (a Map of string -> record costs ~4x as much, see docs/format.md). Node 20 keeps ~70 MB;
  // Node 24's allocator keeps 70-82 MB from run to run of the same code (2026-12-06), so the
  // bound is 90 MB: still far below what any JavaScript value per blob would cost.
  assert.ok(result.rssBytes < 90 * BLOBS, `RSS grew by ${(result.rssBytes / 1e6).toFixed(1)} MB for ${BLOBS} blobs`);
});

test('the table across pages: every id found with its numbers, a copy in a second pack outlives a dropped pack', async () => {
  const { BlobIndexTable } = await import('../../../ts-src/helper/repo/index-table.js');
  const table = new BlobIndexTable();
  const a = table.addPack('a'.repeat(64), { bytes: 1, header: 0 });
  const b = table.addPack('b'.repeat(64), { bytes: 1, header: 7 });
  const id = (i: number): string => createHash('sha256').update(`id ${i}`).digest('hex');
  const n = 40_000; // more than two pages, and several slot resizes
  for (let i = 0; i < n; i += 1) table.add(id(i), i % 2 === 0 ? a : b, i, i + 1, i + 2, i % 3 === 0 ? 'gzip' : 'none');
  for (let i = 0; i < n; i += 1) {
    assert.deepEqual(table.lookup(id(i)), { pack: (i % 2 === 0 ? 'a' : 'b').repeat(64), header: i % 2 === 0 ? 0 : 7, offset: i, length: i + 1, rawLength: i + 2, encoding: i % 3 === 0 ? 'gzip' : 'none' });
  }
  assert.equal(table.lookup(id(n)), undefined);
  table.add(id(0), b, 99, 1, 2, 'none'); // the same blob stored again in pack b
  table.dropPack('a'.repeat(64));
  assert.equal(table.lookup(id(0))?.offset, 99, 'the copy in pack b is found');
  assert.equal(table.has(id(2)), false, 'blobs only in the dropped pack are gone');
  assert.equal(table.has(id(1)), true);
  assert.deepEqual([...table.packs().keys()], ['b'.repeat(64)]);
});
