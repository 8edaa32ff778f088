/**
 * Child process of tree-streaming.test.ts, run with a small old space (--max-old-space-size):
 * stores a previous tree of argv[3] file entries as tree blobs in a new repository at argv[2],
 * then backs up a directory of three files against it with the changes tracked, the previous
 * tree read from its blobs (tree-reader.ts readTree), as a re-run after a catalog read does.
 * Every previous entry is then a removed path, so the previous tree, the merge with the walk
 * and the change collector all see every entry. Prints the counts and the peak heap.
 * With argv[4] = "hold" it first collects the previous tree into an array (what the test must
 * catch): that copy alone does not fit the old space the test gives.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { getHeapStatistics } from 'node:v8';
import { join } from 'node:path';
import { openRepository } from '../../ts-src/helper/repo/repository.js';
import { backupTrees } from '../../ts-src/helper/files/tree-backup.js';
import { readTree } from '../../ts-src/helper/files/tree-reader.js';
import { treeLine } from '../../ts-src/helper/files/tree-format.js';
import type { FilesRecordV2, TreeEntry } from '../../ts-src/protocol/manifest.js';
import { silentReporter } from './support/files-fixtures.js';

const [root, countText, mode] = process.argv.slice(2);
const count = Number(countText);
let peakHeap = 0;
const sample = (): void => {
  peakHeap = Math.max(peakHeap, getHeapStatistics().used_heap_size);
};
const sampler = setInterval(sample, 5);

const repo = await openRepository(join(root, 'repo'), { create: true, compression: 'gzip', level: 1 });
const writer = await repo.writer();
const blockId = writer.idOf(Buffer.from('content of every file'));
const tree: string[] = [];
let chunk: string[] = [];
let chunkBytes = 0;
const flush = async (): Promise<void> => {
  tree.push(await writer.put(Buffer.from(chunk.join(''))));
  chunk = [];
  chunkBytes = 0;
};
const line = async (entry: TreeEntry): Promise<void> => {
  const text = treeLine(entry);
  chunk.push(text);
  chunkBytes += text.length;
  if (chunkBytes >= 256 * 1024) await flush();
};
await line({ p: '.', t: 'd', m: 0o755, mt: 1_700_000_000_000 });
await line({ p: 'gone', t: 'd', m: 0o755, mt: 1_700_000_000_000 });
for (let i = 0; i < count; i += 1) {
  // Zero-padded names: tree order (compareTreePaths) is then numeric order.
  await line({ p: `gone/file-${String(i).padStart(9, '0')}.php`, t: 'f', m: 0o644, mt: 1_700_000_000_000 + i, s: 21, b: [blockId], h: blockId, i: 1_000_000 + i, c: 1_700_000_000_000 + i });
}
await flush();
await writer.finish();
const record = { label: 'site', tree } as unknown as FilesRecordV2;

const site = join(root, 'site');
await mkdir(site);
for (const name of ['a.php', 'b.php', 'c.php']) await writeFile(join(site, name), `<?php // ${name}\n`);

let previous: AsyncIterable<TreeEntry> = readTree(record, repo.reader());
if (mode === 'hold') {
  const held: TreeEntry[] = [];
  for await (const entry of previous) held.push(entry);
  previous = (async function* () {
    yield* held;
  })();
}
const backupWriter = await repo.writer();
const result = await backupTrees({
  directories: [{ label: 'site', path: site }],
  writer: backupWriter,
  repositoryId: repo.id,
  reporter: silentReporter(),
  previous: () => previous,
  changesFor: ['site'],
  previousSet: { setId: 'previous-set' },
});
await backupWriter.finish();
await result.staged.discard();
sample();
clearInterval(sampler);
const changes = result.changes[0]!;
process.stdout.write(JSON.stringify({ counts: changes.counts, listed: changes.paths?.length ?? 0, peakHeapBytes: peakHeap }) + '\n');
