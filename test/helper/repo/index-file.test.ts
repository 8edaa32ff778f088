/**
 * Index files are read from their bytes when they are in PackWriter's exact shape, and through
 * JSON.parse otherwise: both must load the same entries, and a damaged file must be refused
 * with nothing added, whichever way it is read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { BlobIndexTable, type BlobEncoding } from '../../../ts-src/helper/repo/index-table.js';
import { addPackIndex, parsePackIndex, type IndexEntry, type PackIndex } from '../../../ts-src/helper/repo/layout.js';

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');
const PACK = hex('pack');
const ENCODINGS: BlobEncoding[] = ['none', 'gzip', 'zstd'];

function index(blobs: number, header = 7): PackIndex {
  const entries: IndexEntry[] = [];
  let offset = header;
  for (let i = 0; i < blobs; i += 1) {
    const length = i === 3 ? 0 : 100 + i;
    entries.push([hex(`blob ${i}`), offset, length, ENCODINGS[i % 3], i === 5 ? 4294967295 : length * 2, hex(`stored ${i}`)]);
    offset += length;
  }
  return { pack: PACK, header, blobs: entries };
}

function load(bytes: Buffer): BlobIndexTable {
  const table = new BlobIndexTable();
  addPackIndex(table, bytes, PACK);
  return table;
}

function contents(table: BlobIndexTable, of: PackIndex): unknown[] {
  return of.blobs.map(([id]) => table.lookup(id));
}

test('a canonical index file and the same index spelt differently load the same entries', () => {
  for (const blobs of [0, 1, 40]) {
    const value = index(blobs);
    const canonical = load(Buffer.from(`${JSON.stringify(value)}\n`));
    const spaced = load(Buffer.from(JSON.stringify(value, null, 1)));
    const escaped = load(Buffer.from(JSON.stringify(value).replace('"header"', '"\\u0068eader"')));
    for (const table of [canonical, spaced, escaped]) {
      assert.equal(table.size, blobs);
      assert.deepEqual(table.packs().get(PACK), { bytes: value.blobs.reduce((end, [, offset, length]) => Math.max(end, offset + length), value.header), header: 7 });
    }
    assert.deepEqual(contents(canonical, value), contents(spaced, value));
    assert.deepEqual(contents(canonical, value), contents(escaped, value));
    for (const [id, offset, length, encoding, rawLength] of value.blobs) {
      assert.deepEqual(canonical.lookup(id), { pack: PACK, header: 7, offset, length, rawLength, encoding });
    }
  }
});

test('a damaged index file is refused, with nothing added, however it is spelt', () => {
  const good = JSON.stringify(index(6));
  const damaged = [
    good.slice(0, -20), // truncated
    good.replace(hex('blob 2'), hex('blob 2').toUpperCase()),
    good.replace(hex('blob 2'), hex('blob 2').slice(1)),
    good.replace('"gzip"', '"brotli"'),
    good.replace(`,${100 + 1},`, ',-101,'),
    good.replace(`,${100 + 1},`, ',101.5,'),
    good.replace('4294967295', '4294967296'),
    good.replace(`"pack":"${PACK}"`, `"pack":"${hex('other')}"`),
    good.replace(hex('stored 4'), 'x'.repeat(64)),
    `${good}x`,
  ];
  for (const text of damaged) {
    assert.notEqual(text, good);
    for (const bytes of [Buffer.from(text), Buffer.from(` ${text}`)]) {
      const table = new BlobIndexTable();
      assert.throws(() => addPackIndex(table, bytes, PACK), /the index file of pack/, text.slice(0, 200));
      assert.equal(table.size, 0);
      assert.equal(table.packCount, 0);
      // The strict parser agrees that it is damaged.
      assert.throws(() => parsePackIndex(bytes.toString(), PACK));
    }
  }
});
