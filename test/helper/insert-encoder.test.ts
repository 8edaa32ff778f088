/**
 * The encoder on its own (no server): rows given as their text-protocol encoding become the
 * same INSERT statements as the reference literals (sql-literal.ts sqlLiteral), for small
 * rows, rows near the statement limit and the large-row chain; statements respect the limit;
 * rows that do not hold the expected values are refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InsertEncoder, insertStatementsFor, type EncodedColumn } from '../../ts-src/helper/db/insert-encoder.js';
import { TableDigest, digestRows } from '../../ts-src/helper/db/row-digest.js';
import { sqlLiteral } from '../../ts-src/helper/db/sql-literal.js';
import { encodeTextRow } from '../../ts-src/helper/db/text-row.js';

const columns: EncodedColumn[] = [
  { name: 'id', kind: 'number', charset: null },
  { name: 'f', kind: 'float', charset: null },
  { name: 'b', kind: 'binary', charset: null },
  { name: 't', kind: 'text', charset: 'utf8mb4' },
  { name: 'l', kind: 'charset', charset: 'latin1' },
];
const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));

function row(i: number, textBytes = 10): (Buffer | null)[] {
  return [
    b(String(i)),
    i % 3 === 0 ? null : b(`${i}.5`),
    i % 4 === 0 ? b('') : b([0, 0x27, 0x5c, i & 0xff]),
    b(`it's \\ ${'x'.repeat(textBytes)} \n ${i} 😀`),
    i % 5 === 0 ? null : b([0xe9, 0x41]),
  ];
}

/** The statements as the reference literals say they should be, for rows that fit. */
function reference(rows: (Buffer | null)[][]): string {
  const values = rows.map((r) => `(${r.map((v, i) => sqlLiteral(columns[i].kind, v, columns[i].charset).toString('latin1')).join(',')})`);
  return `INSERT INTO \`t\` (\`id\`,\`f\`,\`b\`,\`t\`,\`l\`) VALUES\n${values.join(',\n')};\n`;
}

test('rows equal the reference literals, and the digest is the digest of the values', () => {
  const rows = Array.from({ length: 200 }, (_v, i) => row(i));
  const digest = new TableDigest();
  const statements = insertStatementsFor(rows, 't', columns, 1 << 20, digest);
  assert.equal(statements.length, 1);
  assert.equal(statements[0].toString('latin1'), reference(rows));
  assert.equal(digest.hex(), digestRows(rows));
  assert.equal(digest.rows, 200);
});

test('rows near the limit move to the next statement; statements never pass the limit', () => {
  const limit = 8192;
  // Text of ~1.5-3.5 KiB: two to five rows per 8 KiB statement.
  const rows = Array.from({ length: 40 }, (_v, i) => row(i, 1500 + 50 * i));
  const statements = insertStatementsFor(rows, 't', columns, limit, new TableDigest());
  assert.ok(statements.length > 5);
  for (const statement of statements) assert.ok(statement.length <= limit, `${statement.length} > ${limit}`);
  // Joined, they hold exactly the reference rows in order.
  const text = statements.map((s) => s.toString('latin1')).join('');
  const valuesOf = (sql: string) => sql.split(/;\n/).filter(Boolean).map((s) => s.replace(/^INSERT INTO [^\n]*VALUES\n/, '')).join(',\n');
  assert.equal(valuesOf(text), valuesOf(reference(rows)));
});

test('a row larger than any statement becomes a variable chain, pulled lazily', () => {
  const big = [b('1'), null, Buffer.alloc(20_000, 0xab), b('t'), null];
  let chains = 0;
  let pulledBeforeReturn = 0;
  const chunks: Buffer[] = [];
  const encoder = new InsertEncoder('t', columns, 4096, new TableDigest(), {
    statement: () => assert.fail('no plain statement expected'),
    chain: (parts) => {
      chains += 1;
      // Nothing is built until pulled: the dump pulls as the part file has room.
      pulledBeforeReturn = chunks.length;
      for (let next = parts.next(); !next.done; next = parts.next()) chunks.push(Buffer.from(next.value));
    },
  });
  const encoded = encodeTextRow(big);
  encoder.addEncodedRow(encoded, 0, encoded.length);
  encoder.end();
  assert.equal(chains, 1);
  assert.equal(pulledBeforeReturn, 0);
  assert.ok(chunks.length >= 10, `${chunks.length} statements`);
  for (const chunk of chunks) assert.ok(chunk.length <= 4096);
  assert.match(chunks[0].toString('latin1'), /^SET @cb_v1 = 0x/);
  assert.match(chunks.at(-1)!.toString('latin1'), /^SET @cb_v1 = NULL;/);
});

test('a row that does not hold the expected values is refused', () => {
  const encoder = new InsertEncoder('t', columns, 1 << 20, new TableDigest(), { statement: () => undefined, chain: () => undefined });
  const good = encodeTextRow(row(1));
  const tooFew = encodeTextRow(row(1).slice(0, 4));
  const tooMany = encodeTextRow([...row(1), b('extra')]);
  for (const bad of [tooFew, tooMany, good.subarray(0, good.length - 1), Buffer.from([0xff, ...good.subarray(1)])]) {
    // Inside a larger buffer, as in a network chunk: bytes after the row must not be read as values.
    const chunk = Buffer.concat([bad, Buffer.from([3, 0x61, 0x62, 0x63, 3, 0x61, 0x62, 0x63])]);
    assert.throws(() => encoder.addEncodedRow(chunk, 0, bad.length), /expected values/);
  }
  const small = new InsertEncoder('t', columns, 4096, new TableDigest(), { statement: () => undefined, chain: () => undefined });
  const longFew = encodeTextRow(row(1, 3000).slice(0, 4));
  assert.throws(() => small.addEncodedRow(longFew, 0, longFew.length), /expected values/);
});

test('content-defined statement ends: an inserted or changed row changes only the statement it is in', () => {
  const cuts = { targetBytes: 4096, minBytes: 1024 };
  const limit = 16384;
  const rows = Array.from({ length: 3000 }, (_v, i) => row(i, 20 + (i % 50)));
  const statements = (list: (Buffer | null)[][]): string[] => insertStatementsFor(list, 't', columns, limit, new TableDigest(), cuts).map((s) => s.toString('latin1'));
  const before = statements(rows);
  assert.ok(before.length >= 40, `${before.length} statements`);
  for (const statement of before) assert.ok(statement.length <= limit);
  // Most statements end at a cut (well below the limit), and no statement is empty of rows.
  assert.ok(before.filter((s) => s.length < limit - 512).length > before.length * 0.8);
  const valuesOf = (sql: string[]) => sql.join('').split(/;\n/).filter(Boolean).map((s) => s.replace(/^INSERT INTO [^\n]*VALUES\n/, '')).join(',\n');
  assert.equal(valuesOf(before), valuesOf([reference(rows)]));

  const changedStatements = (now: string[]): number => {
    const old = new Set(before);
    return now.filter((s) => !old.has(s)).length;
  };
  const inserted = [...rows.slice(0, 1500), row(99999, 30), ...rows.slice(1500)];
  assert.ok(changedStatements(statements(inserted)) <= 2, 'insert');
  const updated = rows.map((r, i) => (i === 2000 ? row(77777, 25) : r));
  assert.ok(changedStatements(statements(updated)) <= 2, 'update');
  const deleted = rows.filter((_r, i) => i !== 700);
  assert.ok(changedStatements(statements(deleted)) <= 2, 'delete');
});
