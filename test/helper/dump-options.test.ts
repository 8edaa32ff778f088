/**
 * The backup verb's options end to end: --settings (CIVICRM_DSN and CIVICRM_LOGGING_DSN read
 * without PHP), a separate logging database under logdb/, cache tables and --exclude-data,
 * --no-skip-cache-data, age encryption readable by the age CLI, and zstd/none compression.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';
import { databaseShape } from './support/compare-db.js';
import { assertBundleBuilt, lastEvent, plainRestore, runHelper } from './support/helper-run.js';

const MAIN = uniqueName('cbt_dump_main');
const LOG = uniqueName('cbt_dump_log');
const RESTORED_MAIN = uniqueName('cbt_dump_rmain');
const RESTORED_LOG = uniqueName('cbt_dump_rlog');
let dir: string;

before(async () => {
  assertBundleBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cbt-dump-opts-'));
  for (const db of [MAIN, LOG, RESTORED_MAIN, RESTORED_LOG]) await createDatabase(db);
  mariadbCli(
    `CREATE TABLE civicrm_contact (id INT PRIMARY KEY, display_name VARCHAR(64));
     INSERT INTO civicrm_contact VALUES (1, 'Ada 😀'), (2, 'Grace');
     CREATE TABLE civicrm_acl_cache (id INT PRIMARY KEY, contact_id INT);
     INSERT INTO civicrm_acl_cache VALUES (1, 1);
     CREATE TABLE civicrm_group_contact_cache (id INT PRIMARY KEY);
     INSERT INTO civicrm_group_contact_cache VALUES (1);
     CREATE TABLE civicrm_import_job_1 (id INT PRIMARY KEY);
     INSERT INTO civicrm_import_job_1 VALUES (1);
     CREATE TABLE civicrm_importjob (id INT PRIMARY KEY);
     INSERT INTO civicrm_importjob VALUES (1);`,
    MAIN,
  );
  mariadbCli(
    `CREATE TABLE log_civicrm_contact (id INT, display_name VARCHAR(64), log_date TIMESTAMP NULL, log_action ENUM('Initialization','Insert','Update','Delete')) ENGINE=ARCHIVE;
     INSERT INTO log_civicrm_contact VALUES (1, 'Ada', '2024-01-01 00:00:00', 'Insert'), (1, 'Ada 😀', '2024-01-02 00:00:00', 'Update');`,
    LOG,
  );
});

after(() => {
  for (const db of [MAIN, LOG, RESTORED_MAIN, RESTORED_LOG]) dropDatabase(db);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function manifestOf(setDir: string): Manifest {
  return JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as Manifest;
}

test('--settings gives both DSNs; the logging database lands in logdb/ and restores; cache and excluded tables keep structure only', { timeout: 300_000 }, async () => {
  const settings = join(dir, 'civicrm.settings.php');
  writeFileSync(
    settings,
    `<?php\nif (!defined('CIVICRM_DSN')) {\n  define('CIVICRM_DSN', '${dsnText(MAIN)}?new_link=true');\n}\ndefine( "CIVICRM_LOGGING_DSN", "${dsnText(LOG)}?new_link=true" );\n`,
  );
  const run = runHelper(['backup', '--format', '1', '--to', join(dir, 'a'), '--settings', settings, '--exclude-data', 'civicrm_import_job_*']);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const setDir = (lastEvent(run) as { set: string }).set;
  const manifest = manifestOf(setDir);
  assert.deepEqual(manifest.databases.map((d) => [d.role, d.folder, d.name]), [['main', 'db', MAIN], ['logging', 'logdb', LOG]]);
  const main = manifest.databases[0];
  const skipped = Object.fromEntries(main.tables.filter((t) => t.dataSkipped).map((t) => [t.name, t.dataSkipped]));
  assert.deepEqual(Object.keys(skipped).sort(), ['civicrm_acl_cache', 'civicrm_group_contact_cache', 'civicrm_import_job_1']);
  assert.match(skipped.civicrm_import_job_1 ?? '', /--exclude-data civicrm_import_job_\*/);
  assert.equal(main.tables.find((t) => t.name === 'civicrm_importjob')?.rows, 1, 'glob _ is literal, * is the wildcard');
  const log = manifest.databases[1];
  assert.equal(log.tables[0].snapshot, false);
  assert.ok(readdirSync(join(setDir, 'logdb')).includes('200-data-log_civicrm_contact.sql.gz'));

  plainRestore(setDir, RESTORED_MAIN, 'db');
  plainRestore(setDir, RESTORED_LOG, 'logdb');
  const skip = Object.keys(skipped);
  const source = await withRoot(MAIN, (c) => databaseShape(c, MAIN, skip));
  const restored = await withRoot(RESTORED_MAIN, (c) => databaseShape(c, RESTORED_MAIN, skip));
  assert.deepEqual(restored, source);
  const sourceLog = await withRoot(LOG, (c) => databaseShape(c, LOG));
  const restoredLog = await withRoot(RESTORED_LOG, (c) => databaseShape(c, RESTORED_LOG));
  assert.deepEqual(restoredLog, sourceLog);
  assert.equal(mariadbCli('SELECT COUNT(*) FROM civicrm_acl_cache', RESTORED_MAIN).trim(), '0');
});

test('--no-skip-cache-data keeps cache rows; --compression none writes plain .sql', { timeout: 120_000 }, () => {
  const run = runHelper(['backup', '--format', '1', '--to', join(dir, 'b'), '--db', dsnText(MAIN), '--no-skip-cache-data', '--compression', 'none']);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const setDir = (lastEvent(run) as { set: string }).set;
  const manifest = manifestOf(setDir);
  assert.ok(manifest.databases[0].tables.every((t) => !t.dataSkipped));
  assert.equal(manifest.databases.length, 1);
  const files = readdirSync(join(setDir, 'db'));
  assert.ok(files.includes('200-data-civicrm_acl_cache.sql'));
  assert.ok(files.every((f) => f.endsWith('.sql')));
});

test('--recipient encrypts every part; the age CLI decrypts them to the same SQL', { timeout: 120_000 }, (t) => {
  if (spawnSync('age', ['--version']).status !== 0) {
    t.skip('age CLI not installed');
    return;
  }
  const keyFile = join(dir, 'key.txt');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
  const recipient = /public key: (age1[0-9a-z]+)/.exec(readFileSync(keyFile, 'utf8'))![1];
  const run = runHelper(['backup', '--format', '1', '--to', join(dir, 'c'), '--db', dsnText(MAIN), '--recipient', recipient]);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  const setDir = (lastEvent(run) as { set: string }).set;
  const manifest = manifestOf(setDir);
  assert.deepEqual(manifest.encryption, { recipients: [recipient], passphrase: false });
  const files = readdirSync(join(setDir, 'db')).sort();
  assert.ok(files.length >= 8 && files.every((f) => f.endsWith('.sql.gz.age')), files.join(' '));
  const sql = files.map((f) => execFileSync('sh', ['-c', 'age -d -i "$1" "$2" | zcat', 'sh', keyFile, join(setDir, 'db', f)]).toString('utf8')).join('');
  assert.match(sql, /INSERT INTO `civicrm_contact` \(`id`,`display_name`\) VALUES\n\(1,'Ada 😀'\),\n\(2,'Grace'\);/);
});

test('an invalid view (its table dropped) is left out with a warning, so the plain restore still runs', { timeout: 120_000 }, async () => {
  const source = uniqueName('cbt_dump_view');
  const target = uniqueName('cbt_dump_viewr');
  await createDatabase(source);
  await createDatabase(target);
  try {
    mariadbCli('CREATE TABLE gone (a INT); CREATE TABLE kept (a INT); CREATE VIEW v_broken AS SELECT a FROM gone; CREATE VIEW v_ok AS SELECT a FROM kept; DROP TABLE gone;', source);
    const run = runHelper(['backup', '--format', '1', '--to', join(dir, 'views'), '--db', dsnText(source)]);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.ok(run.events.some((e) => e.type === 'warning' && e.message.includes('`v_broken` is invalid')));
    const setDir = (lastEvent(run) as { set: string }).set;
    const manifest = manifestOf(setDir);
    assert.deepEqual(manifest.databases[0].objects?.views, ['v_ok']);
    assert.ok(manifest.warnings.some((w) => w.includes('v_broken')));
    plainRestore(setDir, target);
    assert.equal(mariadbCli("SELECT GROUP_CONCAT(TABLE_NAME) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()", target).trim(), 'v_ok');
  } finally {
    dropDatabase(source);
    dropDatabase(target);
  }
});
