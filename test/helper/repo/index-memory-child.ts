/**
 * Child process of index-memory.test.ts (run with --expose-gc): opens the repository at
 * argv[2] (whose index files the test wrote) and prints the resident memory the loaded index
 * costs, measured after garbage collection, plus a lookup check. With argv[3] = "naive" it
 * loads the same entries into a Map of string -> record instead, for comparison.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRepository } from '../../../ts-src/helper/repo/repository.js';
import { parsePackIndex } from '../../../ts-src/helper/repo/layout.js';

const [root, mode] = process.argv.slice(2);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
const settle = (): NodeJS.MemoryUsage => {
  for (let i = 0; i < 3; i += 1) gc();
  return process.memoryUsage();
};
const before = settle();
let entries = 0;
let probe: () => boolean;
let keep: unknown;
if (mode === 'naive') {
  const map = new Map<string, { pack: string; offset: number; length: number; encoding: string; rawLength: number }>();
  for (const shard of readdirSync(join(root, 'index'))) {
    for (const name of readdirSync(join(root, 'index', shard))) {
      const pack = name.slice(0, 64);
      for (const [id, offset, length, encoding, rawLength] of parsePackIndex(readFileSync(join(root, 'index', shard, name), 'utf8'), pack).blobs) {
        map.set(id, { pack, offset, length, encoding, rawLength });
      }
    }
  }
  entries = map.size;
  keep = map;
  probe = () => map.size > 0;
} else {
  const repo = await openRepository(root, { compression: 'gzip', level: 6 });
  const reader = repo.reader();
  const firstIndex = readdirSync(join(root, 'index'))[0];
  const firstFile = readdirSync(join(root, 'index', firstIndex))[0];
  const sample = parsePackIndex(readFileSync(join(root, 'index', firstIndex, firstFile), 'utf8'), firstFile.slice(0, 64)).blobs;
  probe = () => sample.every(([id, , length]) => reader.storedLength(id) === length) && reader.packOf('0'.repeat(64)) === undefined;
  entries = [...repo.packs().values()].length;
  keep = repo;
}
const after = settle();
process.stdout.write(
  `${JSON.stringify({ mode: mode ?? 'table', packsOrEntries: entries, rssBytes: after.rss - before.rss, heapBytes: after.heapUsed - before.heapUsed, arrayBuffers: after.arrayBuffers - before.arrayBuffers, lookupsOk: probe(), kept: keep !== undefined })}\n`,
);
