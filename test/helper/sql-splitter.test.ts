import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { SqlSplitter, splitSql, type SqlStatement } from '../../ts-src/helper/db/sql-splitter.js';

function texts(statements: SqlStatement[]): string[] {
  return statements.map((s) => s.sql.toString('utf8').trim());
}

function splitInChunks(input: Buffer, cuts: number[]): SqlStatement[] {
  const splitter = new SqlSplitter();
  const out: SqlStatement[] = [];
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    out.push(...splitter.push(input.subarray(from, cut)));
    from = cut;
  }
  out.push(...splitter.end());
  return out;
}

function comparable(statements: SqlStatement[]): Array<[string, number, number]> {
  return statements.map((s) => [s.sql.toString('latin1'), s.index, s.line]);
}

const CASES: Array<{ name: string; sql: string; expect: string[] }> = [
  { name: 'plain statements', sql: 'SELECT 1;SELECT 2;\nSELECT 3;', expect: ['SELECT 1', 'SELECT 2', 'SELECT 3'] },
  { name: 'last statement without delimiter', sql: 'SELECT 1;\nSELECT 2', expect: ['SELECT 1', 'SELECT 2'] },
  { name: 'semicolon in single quotes', sql: "INSERT INTO t VALUES ('a;b');SELECT 1;", expect: ["INSERT INTO t VALUES ('a;b')", 'SELECT 1'] },
  { name: 'backslash-escaped quote', sql: "SELECT 'it\\'s;';SELECT 2;", expect: ["SELECT 'it\\'s;'", 'SELECT 2'] },
  { name: 'escaped backslash before the closing quote', sql: "SELECT 'a\\\\';SELECT ';';", expect: ["SELECT 'a\\\\'", "SELECT ';'"] },
  { name: 'doubled quotes', sql: "SELECT 'a'';b';SELECT \"x\"\";y\";", expect: ["SELECT 'a'';b'", 'SELECT "x"";y"'] },
  { name: 'double-quoted string with escapes', sql: 'SELECT "a\\";b";SELECT 2;', expect: ['SELECT "a\\";b"', 'SELECT 2'] },
  { name: 'backtick identifiers with doubled backticks, no backslash escape', sql: 'CREATE TABLE `a``;b\\` (x int);SELECT 1;', expect: ['CREATE TABLE `a``;b\\` (x int)', 'SELECT 1'] },
  { name: 'dash dash space comment', sql: '-- a comment; not a statement\nSELECT 1;', expect: ['-- a comment; not a statement\nSELECT 1'] },
  { name: 'dash dash without space is an operator', sql: 'SELECT 1--1;SELECT 2;', expect: ['SELECT 1--1', 'SELECT 2'] },
  { name: 'dash dash tab and dash dash at end of line', sql: 'SELECT 1 --\t;x\n;SELECT 2 --\n;', expect: ['SELECT 1 --\t;x', 'SELECT 2 --'] },
  { name: 'hash comment', sql: '# one; two\nSELECT 1;', expect: ['# one; two\nSELECT 1'] },
  { name: 'block comment with delimiter inside', sql: '/* a; b */ SELECT 1;', expect: ['/* a; b */ SELECT 1'] },
  { name: 'comment-only statements are dropped', sql: 'SELECT 1;\n/* nothing */;\n-- nor this\n;SELECT 2;', expect: ['SELECT 1', 'SELECT 2'] },
  { name: 'executable comments are statement text', sql: '/*!40101 SET NAMES utf8mb4 */;\n/*!50003 SET @x=\'a;b\' */;', expect: ['/*!40101 SET NAMES utf8mb4 */', "/*!50003 SET @x='a;b' */"] },
  { name: 'a delimiter inside an executable comment ends the statement (no nesting)', sql: '/*!40101 SELECT 1; */', expect: ['/*!40101 SELECT 1', '*/'] },
  { name: 'MariaDB executable comment', sql: '/*M!100101 SET x=1 */;', expect: ['/*M!100101 SET x=1 */'] },
  {
    name: 'DELIMITER blocks',
    sql: "SET @a=1;\nDELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = ';'; SET NEW.b=2; END ;;\nDELIMITER ;\nSELECT 2;\n",
    expect: ['SET @a=1', "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET NEW.a = ';'; SET NEW.b=2; END", 'SELECT 2'],
  },
  { name: 'delimiter keyword is case-insensitive and may be indented', sql: '  delimiter $$\nSELECT 1; SELECT 2$$\n\tDelimiter ;\nSELECT 3;', expect: ['SELECT 1; SELECT 2', 'SELECT 3'] },
  { name: 'delimiter word inside a statement is text', sql: 'SELECT 1 AS\ndelimiter ;', expect: ['SELECT 1 AS\ndelimiter'] },
  { name: 'statements starting with d are not commands', sql: 'DROP TABLE x;do 1;delimiters;', expect: ['DROP TABLE x', 'do 1', 'delimiters'] },
  { name: 'newlines inside strings', sql: "INSERT INTO t VALUES ('a\nb;\r\nc');", expect: ["INSERT INTO t VALUES ('a\nb;\r\nc')"] },
  { name: 'utf-8 and 4-byte characters', sql: "INSERT INTO t VALUES ('😀;é'),('\\0');SELECT '€';", expect: ["INSERT INTO t VALUES ('😀;é'),('\\0')", "SELECT '€'"] },
  { name: 'slash that is division', sql: 'SELECT 4/2;SELECT 1 */ 2;', expect: ['SELECT 4/2', 'SELECT 1 */ 2'] },
  { name: 'unterminated string is sent as the last statement', sql: "SELECT 'abc;", expect: ["SELECT 'abc;"] },
  { name: 'empty input', sql: '', expect: [] },
  { name: 'only blanks and comments', sql: '\n  -- x\n/* y */\n# z', expect: [] },
];

for (const c of CASES) {
  test(`splits: ${c.name}`, () => {
    assert.deepEqual(texts(splitSql(c.sql)), c.expect);
  });
}

test('every two-chunk cut of every sample gives the same statements, indexes and lines', () => {
  for (const c of CASES) {
    const input = Buffer.from(c.sql, 'utf8');
    const whole = comparable(splitSql(input));
    for (let cut = 0; cut <= input.length; cut += 1) {
      assert.deepEqual(comparable(splitInChunks(input, [cut])), whole, `${c.name}: cut at byte ${cut}`);
    }
    const everyByte = Array.from({ length: input.length }, (_, i) => i);
    assert.deepEqual(comparable(splitInChunks(input, everyByte)), whole, `${c.name}: one byte at a time`);
  }
});

test('statement lines count the lines before them', () => {
  const statements = splitSql('SELECT 1;\n\n-- c\nSELECT\n2;\nSELECT "a\nb";SELECT 4;');
  assert.deepEqual(statements.map((s) => [s.index, s.line]), [[1, 1], [2, 4], [3, 6], [4, 7]]);
});

/** Random statements built from fragments whose splitting is known by construction. */
function randomFragment(delimiter: string): string {
  const pick = randomInt(12);
  const noise = () => ['', ';', ';;', '$$', "'", '"', '`', '\\', '--', '/*', '*/', '#', '\n', 'é😀', delimiter][randomInt(15)];
  switch (pick) {
    case 0:
      return `'${Array.from({ length: randomInt(4) }, () => (['\\\'', "''", '\\\\', 'a', noise()][randomInt(5)]).replace(/^'$/, "\\'").replace(/^\\$/, '\\\\')).join('')}'`;
    case 1:
      return `"${Array.from({ length: randomInt(4) }, () => ['\\"', '""', '\\\\', 'b', ';', "'", '`'][randomInt(7)]).join('')}"`;
    case 2:
      return `\`${Array.from({ length: randomInt(4) }, () => ['``', 'c', ';', "'", '"', '\\'][randomInt(6)]).join('')}\``;
    case 3:
      return `/* ${noise().replace('*/', '')} */`;
    case 4:
      return `-- ${noise().replace('\n', '')}\n`;
    case 5:
      return `# ${noise().replace('\n', '')}\n`;
    case 6:
      return `/*!40101 x */ `; // its "*/" is plain text: a space keeps it off a "//" delimiter
    case 7:
      return ' 1-2 ';
    case 8:
      return 'x/y';
    case 9:
      return '\n';
    default:
      return ` w${randomInt(100)} `;
  }
}

test('random statements split back into what they were built from, at any chunking', () => {
  for (let round = 0; round < 300; round += 1) {
    const expected: string[] = [];
    let input = '';
    let delimiter = ';';
    const count = 1 + randomInt(6);
    for (let i = 0; i < count; i += 1) {
      if (randomInt(4) === 0) {
        delimiter = [';', ';;', '$$', '//'][randomInt(4)];
        input += `\nDELIMITER ${delimiter}\n`;
      }
      let statement = `S${i}`;
      for (let f = randomInt(6); f > 0; f -= 1) statement += randomFragment(delimiter);
      // keep fragments that could hide or fake a delimiter from touching the delimiter
      statement += ' E';
      expected.push(statement);
      input += `${statement}${delimiter}`;
    }
    const bytes = Buffer.from(input, 'utf8');
    const whole = splitSql(bytes);
    assert.deepEqual(texts(whole), expected.map((e) => e.trim()), `input: ${JSON.stringify(input)}`);
    const cuts = Array.from({ length: randomInt(5) }, () => randomInt(bytes.length + 1)).sort((a, b) => a - b);
    assert.deepEqual(comparable(splitInChunks(bytes, cuts)), comparable(whole), `cuts ${cuts.join(',')} of ${JSON.stringify(input)}`);
  }
});

test('a statement of tens of MB in 64 KiB chunks is split in linear time and byte for byte', () => {
  const row = "('abc;\\'def',0x00ff,'😀'),";
  const rows = Math.ceil((40 * 1024 * 1024) / row.length);
  const big = Buffer.from(`INSERT INTO t VALUES ${row.repeat(rows)}(1);\ndo '${'x'.repeat(20 * 1024 * 1024)}';\nSELECT 1;`, 'utf8');
  const splitter = new SqlSplitter();
  const out: SqlStatement[] = [];
  for (let i = 0; i < big.length; i += 64 * 1024) out.push(...splitter.push(big.subarray(i, i + 64 * 1024)));
  out.push(...splitter.end());
  assert.equal(out.length, 3);
  assert.equal(out[0].sql.length, Buffer.byteLength(`INSERT INTO t VALUES ${row.repeat(rows)}(1)`));
  assert.ok(out[0].sql.subarray(-4).equals(Buffer.from(',(1)')));
  assert.equal(out[1].sql.length, Buffer.byteLength(`\ndo ''`) + 20 * 1024 * 1024);
  assert.equal(out[2].sql.toString().trim(), 'SELECT 1');
});
