import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TableDigest, digestRows, murmur3x86_128 } from '../../ts-src/helper/db/row-digest.js';

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

test('one row: the hash of the documented serialization', () => {
  const serialized = Buffer.concat([Buffer.from([0x01, 0, 0, 0, 2]), b('ab'), Buffer.from([0x00]), Buffer.from([0x01, 0, 0, 0, 0])]);
  assert.equal(digestRows([[b('ab'), null, b('')]]), murmurHex(serialized));
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
    const parts = row.map((v) => (v === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1, v.length >>> 24, (v.length >>> 16) & 255, (v.length >>> 8) & 255, v.length & 255]), v])));
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
  const expected = murmurHex(Buffer.concat([Buffer.from([1, 0, 0x80, 0, 3]), big]));
  assert.equal(digestRows([[big]]), expected);
  const digest = new TableDigest();
  digest.addRow([big]);
  digest.addRow([b('small after big')]);
  assert.equal(digest.rows, 2);
});
