import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TableDigest, digestRows, murmur3x86_128, murmur3x86_128Range } from '../../ts-src/helper/db/row-digest.js';
import { columnBounds, decodeTextRow, encodeTextRow, writeLengthEncoded } from '../../ts-src/helper/db/text-row.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

function murmurHex(bytes: Buffer): string {
  const out = new Uint32Array(4);
  murmur3x86_128(bytes, bytes.length, 0, out);
  return [3, 2, 1, 0].map((i) => out[i].toString(16).padStart(8, '0')).join('');
}

test('MurmurHash3_x86_128 passes SMHasher\'s verification value 0xB3ECE62A', () => {
  // SMHasher VerificationTest: hash keys {}, {0}, {0,1}, ... {0..254} with seed 256-i,
  // concatenate the 256 hashes (little-endian words), hash that with seed 0, take word 0.
  const key = new Uint8Array(256);
  const hashes = Buffer.alloc(16 * 256);
  const out = new Uint32Array(4);
  for (let i = 0; i < 256; i += 1) {
    key[i] = i;
    murmur3x86_128(key, i, 256 - i, out);
    for (let w = 0; w < 4; w += 1) hashes.writeUInt32LE(out[w], i * 16 + w * 4);
  }
  murmur3x86_128(hashes, hashes.length, 0, out);
  assert.equal(out[0], 0xb3ece62a);
});

test('every tail length 0..31 hashes (and differs)', () => {
  const seen = new Set<string>();
  for (let n = 0; n < 32; n += 1) seen.add(murmurHex(Buffer.alloc(n, 0x61)));
  assert.equal(seen.size, 32);
  assert.equal(murmurHex(Buffer.alloc(0)), '0'.repeat(32));
});

test('an empty table digests to 32 zeros', () => {
  assert.equal(digestRows([]), '0'.repeat(32));
});

test('one row, version 2: the hash of the text-protocol row encoding', () => {
  const serialized = Buffer.concat([Buffer.from([2]), b('ab'), Buffer.from([0xfb]), Buffer.from([0])]);
  assert.equal(digestRows([[b('ab'), null, b('')]]), murmurHex(serialized));
  assert.equal(digestRows([[b('ab'), null, b('')]], 2), murmurHex(serialized));
});

test('one row, version 1 (pre-release sets): the hash of the 0x01 + 4-byte length serialization', () => {
  const serialized = Buffer.concat([Buffer.from([0x01, 0, 0, 0, 2]), b('ab'), Buffer.from([0x00]), Buffer.from([0x01, 0, 0, 0, 0])]);
  assert.equal(digestRows([[b('ab'), null, b('')]], 1), murmurHex(serialized));
  // deep verify of an old set hashes row packets through the version 1 serialization
  const digest = new TableDigest(1);
  const encoded = encodeTextRow([b('ab'), null, b('')]);
  digest.addEncodedRow(encoded, 0, encoded.length, 3);
  assert.equal(digest.hex(), murmurHex(serialized));
});

test('length-encoded integers at every size boundary; encoded rows hash like decoded values', () => {
  for (const n of [0, 1, 250, 251, 252, 65535, 65536, 16777215, 16777216]) {
    const out = Buffer.alloc(9);
    const used = writeLengthEncoded(n, out, 0);
    assert.equal(used, n < 251 ? 1 : n < 65536 ? 3 : n < 16777216 ? 4 : 9, String(n));
    if (n < 70000) {
      const value = Buffer.alloc(n, 0x41);
      const row = [value, null, b('x')];
      const encoded = encodeTextRow(row);
      assert.deepEqual(decodeTextRow(encoded, 0, encoded.length, 3), row);
      const fast = new TableDigest();
      fast.addEncodedRow(encoded, 0, encoded.length, 3);
      assert.equal(fast.hex(), digestRows([row]), String(n));
    }
  }
  // a row inside a larger buffer (as in a network chunk): only [start, end) counts
  const encoded = encodeTextRow([b('hello'), null]);
  const chunk = Buffer.concat([Buffer.from('junk-before'), encoded, Buffer.from('junk-after')]);
  const out = new Uint32Array(4);
  murmur3x86_128Range(chunk, 11, 11 + encoded.length, 0, out);
  const inPlace = [3, 2, 1, 0].map((i) => out[i].toString(16).padStart(8, '0')).join('');
  assert.equal(inPlace, murmurHex(encoded));
  assert.deepEqual(decodeTextRow(chunk, 11, 11 + encoded.length, 2), [b('hello'), null]);
});

test('a row packet with too few, too many or cut values is refused', () => {
  const encoded = encodeTextRow([b('abc'), b('de')]);
  const starts = new Int32Array(3);
  const ends = new Int32Array(3);
  assert.throws(() => columnBounds(encoded, 0, encoded.length, 3, starts, ends), /expected values/);
  assert.throws(() => columnBounds(encoded, 0, encoded.length, 1, starts, ends), /expected values/);
  assert.throws(() => columnBounds(encoded, 0, encoded.length - 1, 2, starts, ends), /expected values/);
  assert.throws(() => columnBounds(Buffer.from([0xff]), 0, 1, 1, starts, ends), /expected values/);
});

test('row order does not matter; duplicates count', () => {
  const rows = [[b('1'), b('x')], [b('2'), null], [b('3'), b('')]];
  assert.equal(digestRows(rows), digestRows([...rows].reverse()));
  assert.notEqual(digestRows([rows[0], rows[0]]), digestRows([rows[0]]));
});

test('NULL, empty string and the text NULL are different values; column boundaries are unambiguous', () => {
  const variants = [[null], [b('')], [b('NULL')], [b('\0')]].map((row) => digestRows([row]));
  assert.equal(new Set(variants).size, variants.length);
  assert.notEqual(digestRows([[b('ab'), b('c')]]), digestRows([[b('a'), b('bc')]]));
  assert.notEqual(digestRows([[b('a'), null]]), digestRows([[b('a')]]));
});

test('the sum is modulo 2^128 with carries across all limbs', () => {
  const digest = new TableDigest();
  const max = new Uint32Array([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  digest.addWords(max);
  digest.addWords(new Uint32Array([1, 0, 0, 0]));
  assert.equal(digest.hex(), '0'.repeat(32));
  digest.addWords(max);
  digest.addWords(max);
  assert.equal(digest.hex(), 'f'.repeat(31) + 'e');
  assert.equal(digest.rows, 4);
});

test('the sum matches a BigInt reference; merging partial digests equals one pass', () => {
  const rows = Array.from({ length: 300 }, (_v, i) => [b(`row ${i}`), i % 3 === 0 ? null : Buffer.alloc(i, i & 0xff)]);
  let sum = 0n;
  for (const row of rows) {
    const parts = row.map((v) => (v === null ? Buffer.from([0xfb]) : Buffer.concat([v.length < 251 ? Buffer.from([v.length]) : Buffer.from([0xfc, v.length & 255, v.length >>> 8]), v])));
    sum = (sum + BigInt(`0x${murmurHex(Buffer.concat(parts))}`)) % (1n << 128n);
  }
  assert.equal(digestRows(rows), sum.toString(16).padStart(32, '0'));
  const left = new TableDigest();
  const right = new TableDigest();
  rows.forEach((r, i) => (i % 2 === 0 ? left : right).addRow(r));
  left.merge(right);
  assert.equal(left.hex(), digestRows(rows));
  assert.equal(left.rows, 300);
});

test('a row larger than the scratch buffer (8 MB value) digests like the reference', () => {
  const big = Buffer.alloc(8 * 1024 * 1024 + 3, 0x5a);
  // 8 MiB + 3 = 0x800003: 0xFD and 3 little-endian bytes
  const expected = murmurHex(Buffer.concat([Buffer.from([0xfd, 3, 0, 0x80]), big]));
  assert.equal(digestRows([[big]]), expected);
  const digest = new TableDigest();
  digest.addRow([big]);
  digest.addRow([b('small after big')]);
  assert.equal(digest.rows, 2);
});
