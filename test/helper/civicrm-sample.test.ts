import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { createSampleDatabase, parseDsn, DEFAULT_DSN, sampleRowCounts } from '../../bench/civicrm-sample.js';
import { CIVICRM_TABLES } from '../../bench/civicrm-schema.js';

const database = `cbt_bench_${randomBytes(4).toString('hex')}`;
let conn: mysql.Connection;

before(async () => {
  conn = await mysql.createConnection({ ...parseDsn(DEFAULT_DSN), charset: 'utf8mb4_unicode_ci' });
});

after(async () => {
  await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await conn.end();
});

test('the sample has CiviCRM tables, keys, routines, triggers, views, an ARCHIVE log and odd data', { timeout: 300_000 }, async () => {
  const first = await createSampleDatabase({ connection: conn, database, scale: 0.002 });
  assert.equal(first.generated, true);
  const expected = sampleRowCounts(0.002);

  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT TABLE_NAME AS name, TABLE_TYPE AS type, ENGINE AS engine FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [database],
  );
  const byName = new Map(tables.map((t) => [t.name as string, t]));
  for (const t of CIVICRM_TABLES) assert.equal(byName.get(t.name)?.engine, 'InnoDB', t.name);
  assert.equal(byName.get('log_civicrm_contact')?.engine, 'ARCHIVE');
  assert.equal(byName.get('civicrm_group_fr_FR')?.type, 'VIEW');

  for (const name of ['civicrm_contact', 'civicrm_contribution', 'civicrm_activity_contact', 'civicrm_group_contact_cache', 'log_civicrm_contact']) {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${database}\`.\`${name}\``);
    assert.equal(Number(rows[0]!.n), expected[name], name);
  }

  const [fks] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ?',
    [database],
  );
  assert.ok(Number(fks[0]!.n) >= 40, `foreign keys: ${fks[0]!.n}`);
  const [triggers] = await conn.query<mysql.RowDataPacket[]>('SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY 1', [database]);
  assert.deepEqual(
    triggers.map((t) => t.name),
    ['civicrm_phone_before_insert', 'civicrm_phone_before_update', 'civicrm_relationship_after_insert', 'civicrm_relationship_after_update', 'civicrm_relationship_type_after_update'],
  );

  // The trigger calls the stored function, as on a real site.
  await conn.query(`INSERT INTO \`${database}\`.civicrm_phone (contact_id, phone) VALUES (1, '+49 (30) 1234-56')`);
  const [phone] = await conn.query<mysql.RowDataPacket[]>(`SELECT phone_numeric FROM \`${database}\`.civicrm_phone ORDER BY id DESC LIMIT 1`);
  assert.equal(phone[0]!.phone_numeric, '4930123456');
  // Relationship inserts fill the cache through the trigger.
  const [before] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${database}\`.civicrm_relationship_cache`);
  await conn.query(`INSERT INTO \`${database}\`.civicrm_relationship (contact_id_a, contact_id_b, relationship_type_id) VALUES (1, 2, 4)`);
  const [afterInsert] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${database}\`.civicrm_relationship_cache`);
  assert.equal(Number(afterInsert[0]!.n), Number(before[0]!.n) + 2);

  // Data that breaks careless dumpers is there: 4-byte characters, \x01 separators, NUL bytes, binary, multi-megabyte rows.
  const [odd] = await conn.query<mysql.RowDataPacket[]>(`SELECT
      (SELECT COUNT(*) FROM \`${database}\`.civicrm_contact WHERE display_name LIKE '%🌻%' OR display_name LIKE '%🌹%' OR display_name LIKE '%🎸%') AS emoji,
      (SELECT COUNT(*) FROM \`${database}\`.civicrm_contact WHERE preferred_communication_method LIKE CONCAT(CHAR(1), '%')) AS separators,
      (SELECT COUNT(*) FROM \`${database}\`.civicrm_cache WHERE LOCATE(CHAR(0), data) > 0) AS nul_bytes,
      (SELECT MAX(LENGTH(document)) FROM \`${database}\`.civicrm_file) AS biggest_document,
      (SELECT MAX(LENGTH(details)) FROM \`${database}\`.civicrm_activity) AS biggest_details`);
  assert.ok(Number(odd[0]!.emoji) > 0);
  assert.ok(Number(odd[0]!.separators) > 0);
  assert.ok(Number(odd[0]!.nul_bytes) > 0);
  assert.ok(Number(odd[0]!.biggest_document) >= 7 * 1024 * 1024);
  assert.ok(Number(odd[0]!.biggest_details) >= 7 * 1024 * 1024);

  // A second call with the same scale keeps the database (the marker matches).
  const second = await createSampleDatabase({ connection: conn, database, scale: 0.002 });
  assert.equal(second.generated, false);
});
