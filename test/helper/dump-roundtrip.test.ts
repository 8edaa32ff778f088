/**
 * The acceptance round trip: back up the fixture with the built helper, restore it with
 * plain tools (`zcat db/*.sql.gz | mariadb`), and compare with the source by CHECKSUM TABLE
 * and SHOW CREATE of every object; the manifest's row digests must match the restored rows.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import { listColumns, selectStatement, storedColumns } from '../../ts-src/helper/db/introspect.js';
import { collectRows } from '../../ts-src/helper/db/row-packets.js';
import { TableDigest } from '../../ts-src/helper/db/row-digest.js';
import { createDatabase, dropDatabase, dsnText, uniqueName, withRoot } from './support/mariadb.js';
import { createFixture } from './support/fixture-db.js';
import { databaseShape } from './support/compare-db.js';
import { assertBundleBuilt, lastEvent, plainRestore, runHelper } from './support/helper-run.js';

const SOURCE = uniqueName('cbt_dump_src');
const TARGET = uniqueName('cbt_dump_dst');
let dir: string;

before(async () => {
  assertBundleBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cbt-dump-rt-'));
  await createDatabase(SOURCE);
  await createDatabase(TARGET);
  createFixture(SOURCE);
});

after(() => {
  dropDatabase(SOURCE);
  dropDatabase(TARGET);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('backup of the fixture restores exactly with zcat | mariadb', { timeout: 600_000 }, async () => {
  const to = join(dir, 'sets');
  // statement limit and part size lowered so multi-statement and split-part paths run too
  const run = runHelper(['backup', '--format', '1', '--to', to, '--db', dsnText(SOURCE)], { CIVIBACKUP_TEST_PART_RAW_BYTES: String(8 * 1024 * 1024) });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const result = lastEvent(run);
  assert.equal(result?.type, 'result');
  const setDir = (result as { set: string }).set;
  const manifest = JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as Manifest;

  // the files of the format, and nothing MariaDB-only a MySQL client would reject
  const files = readdirSync(join(setDir, 'db')).sort();
  for (const fixed of ['000-prelude', '100-schema', '750-routines', '800-views', '900-triggers-events', '999-postlude']) {
    assert.ok(files.includes(`${fixed}.sql.gz`), `${fixed} missing from ${files.join(' ')}`);
  }
  assert.ok(files.includes('200-data-table-20with-20spaces.sql.gz'));
  assert.ok(files.includes('200-data-back-60tick-60table.sql.gz'));
  assert.ok(files.some((f) => /^200-data-big_values\.0002\.sql\.gz$/.test(f)), `big_values not split: ${files.join(' ')}`);
  // one lane rolling over to a second part: the first part is renamed to .0001
  assert.ok(files.includes('200-data-big_no_key.0001.sql.gz') && files.includes('200-data-big_no_key.0002.sql.gz'), files.join(' '));
  assert.ok(!files.includes('200-data-big_no_key.sql.gz'));
  assert.ok(!files.some((f) => f.startsWith('200-data-civicrm_cache')), 'cache table data must be skipped');
  for (const file of files) {
    const text = gunzipSync(readFileSync(join(setDir, 'db', file))).toString('utf8');
    assert.ok(!text.includes('enable the sandbox mode'), file);
    assert.ok(!/DEFINER\s*=/i.test(text), `DEFINER left in ${file}`);
    assert.ok(!/^\s*(CREATE DATABASE|USE)\b/im.test(text), `CREATE DATABASE/USE in ${file}`);
  }

  // manifest facts
  const db = manifest.databases[0];
  const table = (name: string) => db.tables.find((t) => t.name === name)!;
  assert.equal(db.counts.functions, 1);
  assert.equal(db.counts.procedures, 1);
  assert.equal(db.counts.triggers, 4);
  assert.equal(db.counts.events, 1);
  assert.equal(db.counts.views, 4);
  assert.equal(db.counts.sequences, 1);
  assert.equal(table('civicrm_cache').dataSkipped?.includes('cache'), true);
  assert.deepEqual(table('civicrm_cache').parts, []);
  assert.equal(table('every_type').rows, 8);
  assert.equal(table('every_type').snapshot, true);
  assert.equal(table('log_myisam').snapshot, false);
  assert.match(table('log_archive').readMode ?? '', /LOCK TABLES/);
  assert.deepEqual(table('gen_cols').generatedColumns, ['total_stored', 'total_virtual']);
  assert.equal(table('empty_table').rows, 0);
  assert.equal(table('empty_table').digest, '0'.repeat(32));
  assert.ok(table('big_values').parts.length >= 2);
  assert.ok(!JSON.stringify(manifest).includes('password'));

  plainRestore(setDir, TARGET);

  const source = await withRoot(SOURCE, (c) => databaseShape(c, SOURCE, ['civicrm_cache']));
  const restored = await withRoot(TARGET, (c) => databaseShape(c, TARGET, ['civicrm_cache']));
  assert.deepEqual(restored.checksums, source.checksums);
  assert.ok(Object.keys(source.checksums).length >= 15);
  assert.deepEqual(Object.keys(restored.creates).sort(), Object.keys(source.creates).sort());
  for (const key of Object.keys(source.creates)) assert.deepEqual(restored.creates[key], source.creates[key], key);
  await withRoot(TARGET, async (c) => {
    const [cache] = await import('../../ts-src/helper/db/connection.js').then((m) => m.query<{ n: number }>(c, 'SELECT COUNT(*) AS n FROM civicrm_cache'));
    assert.equal(Number(cache.n), 0);
  });

  // the row digests recorded in the manifest, recomputed from the restored tables
  await withRoot(TARGET, async (connection) => {
    for (const record of db.tables.filter((t) => !t.dataSkipped)) {
      const columns = await listColumns(connection, TARGET, record.name);
      const digest = new TableDigest();
      // Independent of the dump's packet hashing: decoded values, serialized per the definition.
      const stored = storedColumns(columns);
      for (const row of await collectRows(connection, selectStatement(record.name, stored, []), stored.length)) digest.addRow(row);
      assert.equal(digest.rows, record.rows, record.name);
      assert.equal(digest.hex(), record.digest, record.name);
    }
  });

  // and the set is listed
  const list = runHelper(['list', to]);
  assert.equal(list.status, 0);
  const sets = (lastEvent(list) as unknown as { summary: { sets: { setId: string }[] } }).summary.sets;
  assert.deepEqual(sets.map((s) => s.setId), [manifest.setId]);
});
