import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { escapeText, hexLiteral, literalLength, literalMaxLength, literalText, quoteIdentifier, selectExpression, sqlLiteral, valueKind, writeLiteral, type ValueKind } from '../../ts-src/helper/db/sql-literal.js';
import { listColumns, selectStatement, storedColumns } from '../../ts-src/helper/db/introspect.js';
import { InsertEncoder } from '../../ts-src/helper/db/insert-encoder.js';
import { collectRows, readRowPackets } from '../../ts-src/helper/db/row-packets.js';
import { TableDigest } from '../../ts-src/helper/db/row-digest.js';
import { createDatabase, dropDatabase, mariadbCli, query, uniqueName, withRoot } from './support/mariadb.js';

test('escapes exactly the six bytes MySQL string syntax needs, for all 256 byte values', () => {
  const all = Buffer.from(Array.from({ length: 256 }, (_v, i) => i));
  const out = escapeText(all);
  const expected: number[] = [0x27];
  for (let i = 0; i < 256; i += 1) {
    const escapes: Record<number, number> = { 0x00: 0x30, 0x0a: 0x6e, 0x0d: 0x72, 0x1a: 0x5a, 0x27: 0x27, 0x5c: 0x5c };
    if (escapes[i] !== undefined) expected.push(0x5c, escapes[i]);
    else expected.push(i);
  }
  expected.push(0x27);
  assert.deepEqual([...out], expected);
});

test('quotes, backslashes, CR LF, NUL, emoji', () => {
  const t = (s: string): string => escapeText(Buffer.from(s, 'utf8')).toString('utf8');
  assert.equal(t(`it's`), `'it\\'s'`);
  assert.equal(t('a\\b'), `'a\\\\b'`);
  assert.equal(t('line1\r\nline2'), `'line1\\r\\nline2'`);
  assert.equal(t('nul\0byte'), `'nul\\0byte'`);
  assert.equal(t('ctrl-z\x1a'), `'ctrl-z\\Z'`);
  assert.equal(t('😀 é 中'), `'😀 é 中'`);
  assert.equal(t(''), `''`);
});

test("NULL, the string 'NULL' and the empty string stay distinct", () => {
  assert.equal(literalText('text', null), 'NULL');
  assert.equal(literalText('text', Buffer.from('NULL')), "'NULL'");
  assert.equal(literalText('text', Buffer.alloc(0)), "''");
  assert.equal(literalText('binary', Buffer.alloc(0)), "''");
  assert.equal(literalText('binary', null), 'NULL');
});

test('binary as 0x hex; numbers as the server printed them; floats always with an exponent', () => {
  assert.equal(hexLiteral(Buffer.from([0, 0xff, 0x10])).toString(), '0x00ff10');
  assert.equal(literalText('number', Buffer.from('-12345678901234567890.123456789012345678901234567890')), '-12345678901234567890.123456789012345678901234567890');
  assert.equal(literalText('float', Buffer.from('16777216')), '16777216e0');
  assert.equal(literalText('float', Buffer.from('0.10000000149011612')), '0.10000000149011612e0');
  assert.equal(literalText('float', Buffer.from('5e-324')), '5e-324');
  assert.equal(literalText('float', Buffer.from('-1.7976931348623157e308')), '-1.7976931348623157e308');
  assert.equal(literalText('charset', Buffer.from([0xe9]), 'latin1'), '_latin1 0xe9');
  assert.equal(literalText('charset', Buffer.alloc(0), 'latin1'), "_latin1''");
});

test('column kinds and select expressions', () => {
  const k = (dataType: string, charset: string | null = null) => valueKind({ name: 'c', dataType, charset });
  assert.equal(k('int'), 'number');
  assert.equal(k('decimal'), 'number');
  assert.equal(k('year'), 'number');
  assert.equal(k('float'), 'float');
  assert.equal(k('double'), 'float');
  for (const t of ['blob', 'longblob', 'varbinary', 'binary', 'bit', 'point', 'geometry', 'polygon']) assert.equal(k(t), 'binary', t);
  for (const t of ['datetime', 'timestamp', 'date', 'time', 'inet6', 'inet4', 'uuid']) assert.equal(k(t), 'text', t);
  assert.equal(k('varchar', 'utf8mb4'), 'text');
  assert.equal(k('enum', 'utf8mb3'), 'text');
  assert.equal(k('longtext', 'utf8mb4'), 'text');
  assert.equal(k('varchar', 'latin1'), 'charset');
  assert.equal(k('char', 'binary'), 'binary');
  assert.equal(selectExpression({ name: 'f`x', dataType: 'float', charset: null }), 'CAST(`f``x` AS DOUBLE)');
  assert.equal(selectExpression({ name: 'l', dataType: 'varchar', charset: 'latin1' }), 'CAST(`l` AS BINARY)');
  assert.equal(quoteIdentifier('we`ird name'), '`we``ird name`');
  assert.equal(sqlLiteral('number', Buffer.from('42')).toString(), '42');
});

test('writeLiteral writes exactly sqlLiteral; literalLength is exact; literalMaxLength bounds it', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const samples: (Buffer | null)[] = [null, Buffer.alloc(0), Buffer.from('0'), Buffer.from('1.5'), Buffer.from('5e-324')];
  for (let i = 0; i < 300; i += 1) samples.push(Buffer.from(Array.from({ length: random(200) }, () => random(256))));
  const kinds: [ValueKind, string | null][] = [['number', null], ['float', null], ['binary', null], ['text', null], ['charset', 'latin1']];
  const out = Buffer.alloc(4096);
  for (const [kind, charset] of kinds) {
    for (const raw of samples) {
      const expected = sqlLiteral(kind, raw, charset);
      const end = writeLiteral(kind, raw, charset, out, 3);
      assert.deepEqual(out.subarray(3, end), expected, `${kind} ${raw?.toString('hex')}`);
      assert.equal(literalLength(kind, raw, charset), expected.length);
      assert.ok(literalMaxLength(kind, raw, charset) >= expected.length);
    }
  }
});

// The real proof: values written as literals by the dump come back bit-identical from the server.
const DB = uniqueName('cbt_dump_lit');
before(async () => createDatabase(DB));
after(() => dropDatabase(DB));

test('every literal stores the same value again (server round trip, CHECKSUM and digest equal)', async () => {
  const allBytes = Buffer.from(Array.from({ length: 256 }, (_v, i) => i)).toString('hex');
  mariadbCli(
    `
SET sql_mode = '';
CREATE TABLE src (
  id INT PRIMARY KEY,
  b LONGBLOB, vb VARBINARY(300), t TEXT, vc VARCHAR(200), l1 VARCHAR(300) CHARACTER SET latin1, sj VARCHAR(50) CHARACTER SET sjis,
  dec65 DECIMAL(65,30), f FLOAT, f2 FLOAT(10,2), d DOUBLE, bi BIGINT UNSIGNED, si BIGINT, bt BIT(64), b1 BIT(1),
  j JSON, p POINT, dt6 DATETIME(6), ts TIMESTAMP(3) NULL, dz DATE, tm TIME(6), y YEAR,
  e ENUM('a','b','it''s'), st SET('x','y','z'), i6 INET6, u UUID, i4 INET4
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE dst LIKE src;
INSERT INTO src VALUES
 (1, 0x${allBytes}, 0x${allBytes}, 'quote '' back \\\\ crlf \\r\\n nul \\0 z \\Z emoji 😀🎉', 'NULL', 0x${Buffer.from(Array.from({ length: 128 }, (_v, i) => i + 128)).toString('hex')}, _sjis 0x835c8e5c,
  '99999999999999999999999999999999999.999999999999999999999999999999', 16777216, 123.45, 1.7976931348623157e308, 18446744073709551615, -9223372036854775808, b'1111111111111111111111111111111111111111111111111111111111111111', b'1',
  '{"a": [1, 2.5, "x\\\\"y"], "b": null}', POINT(1.5, -2.25), '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07.999', '0000-00-00', '-838:59:59.000000', 2155,
  'it''s', 'x,z', '2001:db8::ff00:42:8329', '123e4567-e89b-12d3-a456-426614174000', '192.168.0.1'),
 (2, '', '', '', '', '', '', '-99999999999999999999999999999999999.999999999999999999999999999999', 3.4028234663852886e38, -0.01, 5e-324, 0, 0, b'0', b'0',
  '[]', POINT(0,0), '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', '9999-12-31', '00:00:00', 0,
  '', '', '::', '00000000-0000-0000-0000-000000000000', '0.0.0.0'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, 0.000000000000000000000000000001, 1.17549435e-38, NULL, 2.2250738585072014e-308, NULL, NULL, NULL, NULL,
  NULL, NULL, '0000-00-00 00:00:00', NULL, NULL, NULL, 1901, NULL, NULL, NULL, NULL, NULL),
 (4, 'NULL', 0x00, 'NULL', '', 'é', NULL, -0.0, -16777217, 0, -0e0, 1, -1, b'101', NULL, '"str"', NULL, NULL, NULL, NULL, NULL, NULL, 'b', 'x,y,z', NULL, NULL, NULL),
 (5, NULL, NULL, NULL, NULL, NULL, NULL, 1, 0.1, NULL, 0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, NULL, NULL, NULL, NULL, NULL, 1, 1.4e-45, NULL, 0.30000000000000004, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, NULL, NULL, NULL, 1, 3.14159274, NULL, 1e-300, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, NULL, NULL, NULL, NULL, NULL, NULL, 1, -3.4028234663852886e38, NULL, 123456789012345680000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
`,
    DB,
  );
  await withRoot(DB, async (connection) => {
    const columns = await listColumns(connection, DB, 'src');
    const sourceDigest = new TableDigest();
    const statements: Buffer[] = [];
    // The dump's own path: row packets encoded where they lie.
    const encoder = new InsertEncoder('dst', storedColumns(columns), 1 << 20, sourceDigest, {
      statement: (sql) => statements.push(Buffer.from(sql)),
      chain: (parts) => {
        for (let next = parts.next(); !next.done; next = parts.next()) statements.push(Buffer.from(next.value));
      },
    });
    await readRowPackets(connection, selectStatement('src', storedColumns(columns), ['id']), (buffer, start, end) => encoder.addEncodedRow(buffer, start, end)).done;
    encoder.end();
    assert.equal(sourceDigest.rows, 8);
    // restore with the real client, under the prelude's settings
    mariadbCli(`SET NAMES utf8mb4; SET SQL_MODE='NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'; SET TIME_ZONE='+00:00';\n${Buffer.concat(statements).toString('utf8')}`, DB);
    const restoredDigest = new TableDigest();
    // The reference path: values decoded first, then serialized as the digest definition says.
    const stored = storedColumns(columns);
    for (const row of await collectRows(connection, selectStatement('dst', stored, ['id']), stored.length)) restoredDigest.addRow(row);
    assert.equal(restoredDigest.hex(), sourceDigest.hex());
    const sums = await query<{ Table: string; Checksum: string }>(connection, 'CHECKSUM TABLE src, dst EXTENDED');
    assert.equal(sums[0].Checksum, sums[1].Checksum);
    // spot checks of the exactness the pitfalls list names
    const [exact] = await query<Record<string, string>>(connection, "SELECT CAST(f AS DOUBLE) AS f, HEX(b) AS b, dec65, HEX(l1) AS l1, HEX(sj) AS sj FROM dst WHERE id = 1");
    assert.equal(String(exact.f), '16777216');
    assert.equal(exact.b, allBytes.toUpperCase());
    assert.equal(exact.dec65, '99999999999999999999999999999999999.999999999999999999999999999999');
    assert.equal(exact.sj, '835C8E5C');
    const text = await query<{ t: string | null; vc: string | null }>(connection, 'SELECT t, vc FROM dst ORDER BY id');
    assert.equal(text[0].t, "quote ' back \\ crlf \r\n nul \0 z \x1a emoji 😀🎉");
    assert.equal(text[0].vc, 'NULL');
    assert.equal(text[1].vc, '');
    assert.equal(text[2].vc, null);
  });
});
