import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TableDigest, digestRows } from '../../ts-src/helper/db/row-digest.js';

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

test('an empty table digests to 64 zeros', () => {
  assert.equal(digestRows([]), '0'.repeat(64));
});

test('one row: the SHA-256 of the documented serialization', () => {
  const expected = createHash('sha256')
    .update(Buffer.from([0x01, 0, 0, 0, 2]))
    .update(b('ab'))
    .update(Buffer.from([0x00]))
    .update(Buffer.from([0x01, 0, 0, 0, 0]))
    .digest('hex');
  assert.equal(digestRows([[b('ab'), null, b('')]]), expected);
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

test('the sum is modulo 2^256 with carries across all limbs', () => {
  const digest = new TableDigest();
  const max = Buffer.alloc(32, 0xff);
  digest.addHash(max);
  digest.addHash(Buffer.from('00'.repeat(31) + '01', 'hex'));
  assert.equal(digest.hex(), '0'.repeat(64));
  digest.addHash(max);
  digest.addHash(max);
  assert.equal(digest.hex(), 'f'.repeat(63) + 'e');
  assert.equal(digest.rows, 4);
});

test('merging partial digests equals digesting all rows (parallel chunks)', () => {
  const rows = Array.from({ length: 50 }, (_v, i) => [b(String(i)), i % 3 === 0 ? null : b(`v${i}`)]);
  const whole = new TableDigest();
  rows.forEach((r) => whole.addRow(r));
  const left = new TableDigest();
  const right = new TableDigest();
  rows.forEach((r, i) => (i % 2 === 0 ? left : right).addRow(r));
  left.merge(right);
  assert.equal(left.hex(), whole.hex());
  assert.equal(left.rows, 50);
});

test('the sum matches a BigInt reference', () => {
  const rows = Array.from({ length: 200 }, (_v, i) => [b(`row ${i}`)]);
  let sum = 0n;
  for (const row of rows) {
    const h = createHash('sha256').update(Buffer.from([1, 0, 0, 0, row[0].length])).update(row[0]).digest('hex');
    sum = (sum + BigInt(`0x${h}`)) % (1n << 256n);
  }
  assert.equal(digestRows(rows), sum.toString(16).padStart(64, '0'));
});
