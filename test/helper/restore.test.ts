/**
 * Restore and verify against the real MariaDB, through the built bundle: back up a fixture
 * with `civibackup backup`, restore it with `civibackup restore`, and compare by CHECKSUM
 * TABLE ... EXTENDED and SHOW CREATE of every object. Damage (a flipped byte, a truncated
 * part, a doctored part with consistent hashes) must be caught before or by the restore.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '../../ts-src/protocol/manifest.js';
import { snapshotDatabase } from './support/db-snapshot.js';
import { databaseShape } from './support/compare-db.js';
import { createFixture } from './support/fixture-db.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';
import { runHelperAsync } from './support/helper-run.js';
import { listColumns, selectStatement, storedColumns } from '../../ts-src/helper/db/introspect.js';
import { collectRows } from '../../ts-src/helper/db/row-packets.js';
import { digestRows } from '../../ts-src/helper/db/row-digest.js';
import { createRestoreFixture } from './support/restore-fixture.js';
import { openSet } from '../../ts-src/helper/set/set-reader.js';

const civibackup = runHelperAsync;

function databaseExists(name: string): boolean {
  return mariadbCli(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${name}';`).trim() === '1';
}

function readManifestFile(setDir: string): Manifest {
  return JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Copies a set so a test can damage its copy. */
function copySet(setDir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'cbt-restore-set-'));
  const target = join(copy, setDir.split('/').at(-1)!);
  cpSync(setDir, target, { recursive: true });
  return target;
}

/** Rewrites a part and fixes its manifest record so that hashes match again. */
function rewritePart(setDir: string, path: string, content: Buffer, rawBytes?: number): void {
  writeFileSync(join(setDir, path), content);
  const manifest = readManifestFile(setDir);
  const record = manifest.parts.find((p) => p.path === path)!;
  record.bytes = content.length;
  record.sha256 = createHash('sha256').update(content).digest('hex');
  if (rawBytes !== undefined) record.rawBytes = rawBytes;
  writeFileSync(join(setDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
}

const prefix = uniqueName('cbt_restore');
const source = `${prefix}_src`;
const databases: string[] = [source];
const dirs: string[] = [];
/** A version-1 set (part files): the tests that damage or rewrite parts use it. */
let setDir = '';
/** The same source in the default format (v2, deduplicated): the behaviour tests restore it. */
let setV2 = '';

function newDatabaseName(what: string): string {
  const name = `${prefix}_${what}`;
  databases.push(name);
  return name;
}

before(async () => {
  await createRestoreFixture(source, 3000);
  const destination = mkdtempSync(join(tmpdir(), 'cbt-restore-dest-'));
  dirs.push(destination);
  const backup = await civibackup(['backup', '--format', '1', '--to', destination], { CIVIBACKUP_DSN: dsnText(source) });
  assert.equal(backup.status, 0, JSON.stringify(backup.last) + backup.stderr);
  setDir = String(backup.last.set);
  const v2 = await civibackup(['backup', '--to', destination], { CIVIBACKUP_DSN: dsnText(source) });
  assert.equal(v2.status, 0, JSON.stringify(v2.last) + v2.stderr);
  setV2 = String(v2.last.set);
  assert.equal(setV2, join(destination, 'sets', setV2.split('/').at(-1)!), 'the default format writes <dest>/sets/<id>');
});

after(() => {
  for (const name of databases) dropDatabase(name);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test('restore into a new database equals the source by CHECKSUM TABLE and SHOW CREATE of every object', { timeout: 300_000 }, async () => {
  const target = newDatabaseName('new');
  const run = await civibackup(['restore', setV2, '--db', dsnText(target)]);
  assert.equal(run.status, 0, JSON.stringify(run.last) + run.stderr);
  const summary = run.last.summary as { databases: Array<{ deferredTables: number; createdDatabase: boolean }> };
  assert.equal(summary.databases[0].createdDatabase, true);
  assert.ok(summary.databases[0].deferredTables >= 5, 'secondary indexes were deferred');
  const progress = run.events.filter((e) => e.type === 'progress' && e.phase === 'restore') as unknown as Array<{ item: string; bytes: number; bytesTotal: number }>;
  assert.ok(progress.length > 0, 'restore progress events');
  const total = (await openSet(setV2, {})).manifest.parts.filter((p) => p.path.startsWith('db/')).reduce((n, p) => n + p.rawBytes, 0);
  assert.deepEqual([progress.at(-1)!.bytes, progress.at(-1)!.bytesTotal], [total, total], 'the last progress event says all bytes of the manifest');
  assert.ok(progress.every((e, i) => i === 0 || e.bytes >= progress[i - 1].bytes), 'bytes only grow');
  const expected = await snapshotDatabase(source);
  assert.deepEqual(await snapshotDatabase(target), expected);
  const collation = (db: string) => mariadbCli(`SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${db}';`).trim();
  assert.equal(collation(target), 'utf8mb4_unicode_ci', 'the new database gets the source default collation');
  const routineCollation = (db: string) => mariadbCli(`SELECT DATABASE_COLLATION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${db}' ORDER BY ROUTINE_NAME;`);
  assert.equal(routineCollation(target), routineCollation(source));
  assert.ok(Object.keys(expected.tables).length >= 10 && Object.keys(expected.triggers).length === 1 && Object.keys(expected.events).length === 1);
});

test('restored results are identical with --jobs 1, --jobs 4 and without index deferral', { timeout: 300_000 }, async () => {
  const expected = await snapshotDatabase(source);
  for (const args of [['--jobs', '1'], ['--jobs', '4'], ['--no-defer-indexes', '--jobs', '3']]) {
    const target = newDatabaseName(`jobs${args.join('').replace(/[^a-z0-9]/g, '')}`);
    const run = await civibackup(['restore', setV2, ...args], { CIVIBACKUP_DSN: dsnText(target) });
    assert.equal(run.status, 0, `${args.join(' ')}: ${JSON.stringify(run.last)}`);
    assert.deepEqual(await snapshotDatabase(target), expected, args.join(' '));
    dropDatabase(target);
  }
});

test('a non-empty target is refused without --force and left untouched; --force --scope all replaces it (atomic), --force --in-place too', { timeout: 300_000 }, async () => {
  const target = newDatabaseName('busy');
  mariadbCli(`CREATE DATABASE ${target}; CREATE TABLE ${target}.keep_me (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO ${target}.keep_me VALUES (1, 'mine'); CREATE TABLE ${target}.contact (x INT);`);
  const before = await snapshotDatabase(target);
  const refused = await civibackup(['restore', setV2, '--db', dsnText(target)]);
  assert.equal(refused.status, 2);
  assert.equal(refused.last.code, 'TARGET_NOT_EMPTY');
  assert.deepEqual(await snapshotDatabase(target), before, 'target untouched');

  // The fixture holds no CiviCRM tables: the default scope (civicrm) would replace nothing.
  const civicrmOnly = await civibackup(['restore', setV2, '--db', dsnText(target), '--force']);
  assert.equal(civicrmOnly.status, 2);
  assert.match(String(civicrmOnly.last.message), /--scope all/);
  assert.deepEqual(await snapshotDatabase(target), before, 'target untouched');

  const forced = await civibackup(['restore', setV2, '--db', dsnText(target), '--force', '--scope', 'all']);
  assert.equal(forced.status, 0, JSON.stringify(forced.last));
  assert.deepEqual(await snapshotDatabase(target), await snapshotDatabase(source));
  databases.push(`${target}_cbstage`, `${target}_cbold`);

  mariadbCli(`CREATE TABLE ${target}.keep_me (id INT PRIMARY KEY);`);
  const inPlace = await civibackup(['restore', setV2, '--db', dsnText(target), '--force', '--in-place']);
  assert.equal(inPlace.status, 0, JSON.stringify(inPlace.last));
  assert.deepEqual(await snapshotDatabase(target), await snapshotDatabase(source));
});

test('a flipped byte or a truncated part: restore exits 3 naming the part and never creates the target', { timeout: 300_000 }, async () => {
  const manifest = readManifestFile(setDir);
  const dataPart = manifest.parts.find((p) => p.path.includes('200-data-contact'))!;
  const damagedSet = copySet(setDir);
  dirs.push(join(damagedSet, '..'));
  const file = join(damagedSet, dataPart.path);
  const bytes = readFileSync(file);
  bytes[Math.floor(bytes.length / 2)] ^= 0x01;
  writeFileSync(file, bytes);
  const target = newDatabaseName('flip');
  const flipped = await civibackup(['restore', damagedSet, '--db', dsnText(target)]);
  assert.equal(flipped.status, 3);
  assert.equal(flipped.last.code, 'SET_DAMAGED');
  assert.match(String(flipped.last.message), /200-data-contact/);
  assert.equal(databaseExists(target), false);

  truncateSync(file, Math.floor(bytes.length / 3));
  const truncated = await civibackup(['restore', damagedSet, '--db', dsnText(target)]);
  assert.equal(truncated.status, 3);
  assert.match(String(truncated.last.message), /200-data-contact/);
  assert.equal(databaseExists(target), false);

  // with --force on an existing database: nothing is dropped before the set is proven intact
  const existing = newDatabaseName('flipforce');
  mariadbCli(`CREATE DATABASE ${existing}; CREATE TABLE ${existing}.precious (id INT PRIMARY KEY); INSERT INTO ${existing}.precious VALUES (1);`);
  const before = await snapshotDatabase(existing);
  const forced = await civibackup(['restore', damagedSet, '--db', dsnText(existing), '--force']);
  assert.equal(forced.status, 3);
  assert.deepEqual(await snapshotDatabase(existing), before);
});

test('verify: hashes ok writes hashes-ok; a flipped byte in any part exits 3 naming that part', { timeout: 300_000 }, async () => {
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const ok = await civibackup(['verify', copy]);
  assert.equal(ok.status, 0, JSON.stringify(ok.last));
  assert.equal(JSON.parse(readFileSync(join(copy, 'verification.json'), 'utf8')).state, 'hashes-ok');
  const manifest = readManifestFile(copy);
  for (const part of manifest.parts) {
    const file = join(copy, part.path);
    const original = readFileSync(file);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 1 - (part.bytes % 7)] ^= 0x80;
    writeFileSync(file, damaged);
    const run = await civibackup(['verify', copy]);
    writeFileSync(file, original);
    assert.equal(run.status, 3, part.path);
    assert.equal(run.last.code, 'SET_DAMAGED');
    assert.ok(String(run.last.message).includes(part.path), `${part.path} named in: ${String(run.last.message)}`);
  }
  assert.equal(JSON.parse(readFileSync(join(copy, 'verification.json'), 'utf8')).state, 'damaged');
});

test('verify and verify --deep: a part whose gzip stream is corrupt but whose hash matches is caught', { timeout: 300_000 }, async () => {
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const part = readManifestFile(copy).parts.find((p) => p.path.includes('200-data-activity'))!;
  const bytes = readFileSync(join(copy, part.path));
  const broken = Buffer.from(bytes);
  broken[broken.length - 6] ^= 0xff; // inside the CRC32 trailer
  rewritePart(copy, part.path, broken);
  const run = await civibackup(['verify', copy]);
  assert.equal(run.status, 3);
  assert.match(String(run.last.message), /200-data-activity/);

  // the deep verify reads it during its test restore and says so too
  rmSync(join(copy, 'verification.json'));
  const deep = await civibackup(['verify', copy, '--deep'], { CIVIBACKUP_SCRATCH_DSN: 'mysql://root@127.0.0.1:3306' });
  assert.equal(deep.status, 3, JSON.stringify(deep.last));
  assert.equal(deep.last.code, 'SET_DAMAGED');
  assert.match(String(deep.last.message), /200-data-activity/);
  assert.equal(JSON.parse(readFileSync(join(copy, 'verification.json'), 'utf8')).state, 'damaged');
});

test('verify --deep restores into a scratch database, writes restorable, and drops the scratch database', { timeout: 300_000 }, async () => {
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const run = await civibackup(['verify', copy, '--deep'], { CIVIBACKUP_SCRATCH_DSN: 'mysql://root@127.0.0.1:3306/' });
  assert.equal(run.status, 0, JSON.stringify(run.last) + run.stderr);
  const record = JSON.parse(readFileSync(join(copy, 'verification.json'), 'utf8')) as { state: string; restoreSeconds: number };
  assert.equal(record.state, 'restorable');
  assert.equal(typeof record.restoreSeconds, 'number');
  const leftovers = mariadbCli(`SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '${source}\\_civibackup\\_verify\\_%';`).trim();
  assert.equal(leftovers, '', 'scratch database dropped');
  const list = await civibackup(['list', join(copy, '..')]);
  const sets = (list.last.summary as { sets: Array<{ setId: string; verification: { state: string } }> }).sets;
  assert.equal(sets.find((s) => copy.endsWith(s.setId))?.verification.state, 'restorable');

  // A named scratch database that is not empty is refused.
  const busy = newDatabaseName('scratchbusy');
  mariadbCli(`CREATE DATABASE ${busy}; CREATE TABLE ${busy}.t (id INT);`);
  const refused = await civibackup(['verify', copy, '--deep', '--scratch-db', dsnText(busy)]);
  assert.equal(refused.status, 2);
  assert.equal(refused.last.code, 'TARGET_NOT_EMPTY');
});

test('verify --deep catches a doctored data part whose hashes were rewritten to match', { timeout: 300_000 }, async () => {
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const part = readManifestFile(copy).parts.find((p) => p.path.includes('200-data-contact'))!;
  const sql = gunzipSync(readFileSync(join(copy, part.path))).toString('utf8');
  assert.ok(sql.includes("'First17'"));
  const doctored = Buffer.from(sql.replace("'First17'", "'First71'"), 'utf8');
  rewritePart(copy, part.path, gzipSync(doctored), doctored.length);
  const hashes = await civibackup(['verify', copy]);
  assert.equal(hashes.status, 0, 'the hashes alone cannot see it');
  const scratch = newDatabaseName('scratch');
  const deep = await civibackup(['verify', copy, '--deep', '--scratch-db', dsnText(scratch)]);
  assert.equal(deep.status, 3, JSON.stringify(deep.last));
  assert.equal(deep.last.code, 'VERIFY_MISMATCH');
  assert.match(String(deep.last.message), /table contact: the row digest differs/);
  assert.doesNotMatch(String(deep.last.message), /table activity/);
  assert.equal(databaseExists(scratch), false, 'the scratch database is dropped after a failure too');
  assert.equal(JSON.parse(readFileSync(join(copy, 'verification.json'), 'utf8')).state, 'damaged');
});

test('verify --deep checks a set whose manifest carries version 1 row digests (pre-release sets) by that definition', { timeout: 300_000 }, async () => {
  // Rewrite the manifest as a pre-release build wrote it: version 1 digests, no rowDigestVersion.
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const manifest = readManifestFile(copy);
  const db = manifest.databases[0];
  assert.equal(db.rowDigestVersion, 2, 'this version writes version 2');
  await withRoot(source, async (connection) => {
    for (const table of db.tables.filter((t) => t.digest !== undefined)) {
      const stored = storedColumns(await listColumns(connection, source, table.name));
      table.digest = digestRows(await collectRows(connection, selectStatement(table.name, stored, []), stored.length), 1);
    }
  });
  delete db.rowDigestVersion;
  writeFileSync(join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const deep = await civibackup(['verify', copy, '--deep', '--scratch-db', dsnText(newDatabaseName('v1ok'))]);
  assert.equal(deep.status, 0, JSON.stringify(deep.last));

  // and a wrong version 1 digest is still caught
  db.tables.find((t) => t.name === 'contact')!.digest = '0'.repeat(32);
  writeFileSync(join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const wrong = await civibackup(['verify', copy, '--deep', '--scratch-db', dsnText(newDatabaseName('v1bad'))]);
  assert.equal(wrong.status, 3, JSON.stringify(wrong.last));
  assert.match(String(wrong.last.message), /table contact: the row digest differs/);
});

test('encrypted set: restore with the identity; a truncated part with rewritten hashes fails before the target exists', { timeout: 300_000 }, async () => {
  const keyDir = mkdtempSync(join(tmpdir(), 'cbt-restore-key-'));
  dirs.push(keyDir);
  const keygen = await civibackup(['keygen', '--out', join(keyDir, 'key.txt')]);
  const recipient = String((keygen.last.summary as { recipient: string }).recipient);
  const destination = mkdtempSync(join(tmpdir(), 'cbt-restore-enc-'));
  dirs.push(destination);
  // The default format (v2): no key is WRONG_KEY, the identity restores it exactly.
  const backupV2 = await civibackup(['backup', '--to', destination, '--recipient', recipient], { CIVIBACKUP_DSN: dsnText(source) });
  assert.equal(backupV2.status, 0, JSON.stringify(backupV2.last));
  const encryptedV2 = String(backupV2.last.set);
  const noKeyV2 = await civibackup(['restore', encryptedV2, '--db', dsnText(newDatabaseName('nokey2'))]);
  assert.equal(noKeyV2.status, 2);
  assert.equal(noKeyV2.last.code, 'WRONG_KEY');
  const targetV2 = newDatabaseName('enc2');
  const runV2 = await civibackup(['restore', encryptedV2, '--db', dsnText(targetV2), '--identity', join(keyDir, 'key.txt')]);
  assert.equal(runV2.status, 0, JSON.stringify(runV2.last));
  assert.deepEqual(await snapshotDatabase(targetV2), await snapshotDatabase(source));

  // Version 1 (part files): the same, then a truncated .age part with rewritten hashes.
  const backup = await civibackup(['backup', '--format', '1', '--to', destination, '--recipient', recipient], { CIVIBACKUP_DSN: dsnText(source) });
  assert.equal(backup.status, 0, JSON.stringify(backup.last));
  const encrypted = String(backup.last.set);

  const noKey = await civibackup(['restore', encrypted, '--db', dsnText(newDatabaseName('nokey'))]);
  assert.equal(noKey.status, 2);
  assert.equal(noKey.last.code, 'WRONG_KEY');

  const target = newDatabaseName('enc');
  const run = await civibackup(['restore', encrypted, '--db', dsnText(target), '--identity', join(keyDir, 'key.txt')]);
  assert.equal(run.status, 0, JSON.stringify(run.last));
  assert.deepEqual(await snapshotDatabase(target), await snapshotDatabase(source));

  const part = readManifestFile(encrypted).parts.find((p) => p.path.includes('200-data-activity'))!;
  assert.ok(part.path.endsWith('.age'));
  const whole = readFileSync(join(encrypted, part.path));
  rewritePart(encrypted, part.path, whole.subarray(0, whole.length - 100));
  const cut = newDatabaseName('enccut');
  const truncated = await civibackup(['restore', encrypted, '--db', dsnText(cut), '--identity', join(keyDir, 'key.txt')]);
  assert.equal(truncated.status, 3, JSON.stringify(truncated.last));
  assert.match(String(truncated.last.message), /200-data-activity/);
  assert.equal(databaseExists(cut), false);
});

test('the acceptance fixture (every type, 8 MB values, split parts, odd names, all object kinds) restores exactly and deep-verifies', { timeout: 600_000 }, async () => {
  const fixtureSource = newDatabaseName('acc_src');
  await createDatabase(fixtureSource);
  createFixture(fixtureSource);
  const destination = mkdtempSync(join(tmpdir(), 'cbt-restore-acc-'));
  dirs.push(destination);
  const backup = await civibackup(['backup', '--format', '1', '--to', destination, '--db', dsnText(fixtureSource)], { CIVIBACKUP_TEST_PART_RAW_BYTES: String(8 * 1024 * 1024) });
  assert.equal(backup.status, 0, JSON.stringify(backup.last));
  const fixtureSet = String(backup.last.set);
  assert.ok(readManifestFile(fixtureSet).parts.some((p) => /200-data-big_values\.0002/.test(p.path)), 'a table split over parts');

  // into an existing empty database (created as the source was)
  const target = newDatabaseName('acc_dst');
  await createDatabase(target);
  const run = await civibackup(['restore', fixtureSet, '--db', dsnText(target), '--jobs', '3']);
  assert.equal(run.status, 0, JSON.stringify(run.last) + run.stderr);
  const source = await withRoot(fixtureSource, (c) => databaseShape(c, fixtureSource, ['civicrm_cache']));
  const restored = await withRoot(target, (c) => databaseShape(c, target, ['civicrm_cache']));
  assert.deepEqual(restored.checksums, source.checksums);
  assert.deepEqual(Object.keys(restored.creates).sort(), Object.keys(source.creates).sort());
  for (const key of Object.keys(source.creates)) assert.deepEqual(restored.creates[key], source.creates[key], key);

  const deep = await civibackup(['verify', fixtureSet, '--deep', '--scratch-db', 'mysql://root@127.0.0.1:3306']);
  assert.equal(deep.status, 0, JSON.stringify(deep.last));
  assert.equal(JSON.parse(readFileSync(join(fixtureSet, 'verification.json'), 'utf8')).state, 'restorable');
});

test('a set with a separate logging database: --logging-db restores logdb/, and deep verify checks both', { timeout: 300_000 }, async () => {
  const logSource = newDatabaseName('log_src');
  mariadbCli(
    `CREATE DATABASE ${logSource}; CREATE TABLE ${logSource}.log_civicrm_contact (id INT, log_date TIMESTAMP NULL, log_action ENUM('Initialization','Insert','Update','Delete'), display_name VARCHAR(128)) ENGINE=ARCHIVE;` +
      ` INSERT INTO ${logSource}.log_civicrm_contact VALUES (1, '2024-01-01 10:00:00', 'Insert', 'Ada 😀'), (1, '2024-01-02 11:00:00', 'Update', 'Ada L.');` +
      ` CREATE TABLE ${logSource}.log_civicrm_email (id INT PRIMARY KEY, email VARCHAR(64), KEY email (email)) ENGINE=InnoDB; INSERT INTO ${logSource}.log_civicrm_email VALUES (1, 'a@example.org');`,
  );
  const destination = mkdtempSync(join(tmpdir(), 'cbt-restore-log-'));
  dirs.push(destination);
  const backup = await civibackup(['backup', '--to', destination, '--db', dsnText(source), '--logging-db', dsnText(logSource)]);
  assert.equal(backup.status, 0, JSON.stringify(backup.last));
  const withLog = String(backup.last.set);
  const withLogManifest = (await openSet(withLog, {})).manifest;
  assert.ok(withLogManifest.parts.some((p) => p.path.startsWith('logdb/')));

  const main = newDatabaseName('log_main');
  const onlyMain = await civibackup(['restore', withLog, '--db', dsnText(main)]);
  assert.equal(onlyMain.status, 0, JSON.stringify(onlyMain.last));
  assert.ok(onlyMain.events.some((e) => e.type === 'warning' && e.code === 'LOGDB_SKIPPED'), 'says the logging database was not restored');

  const main2 = newDatabaseName('log_main2');
  const logTarget = newDatabaseName('log_dst');
  const both = await civibackup(['restore', withLog, '--db', dsnText(main2), '--logging-db', dsnText(logTarget)]);
  assert.equal(both.status, 0, JSON.stringify(both.last));
  assert.deepEqual(await snapshotDatabase(logTarget), await snapshotDatabase(logSource));
  assert.deepEqual(await snapshotDatabase(main2), await snapshotDatabase(source));

  const deep = await civibackup(['verify', withLog, '--deep'], { CIVIBACKUP_SCRATCH_DSN: 'mysql://root@127.0.0.1:3306' });
  assert.equal(deep.status, 0, JSON.stringify(deep.last));
  assert.equal((deep.last.summary as { tables: number }).tables, withLogManifest.databases.reduce((n, d) => n + d.tables.length, 0));
});

test('a statement the server rejects: exit 1 naming the part, the statement number and the server message', { timeout: 120_000 }, async () => {
  const copy = copySet(setDir);
  dirs.push(join(copy, '..'));
  const part = readManifestFile(copy).parts.find((p) => p.path.includes('200-data-cycle_a'))!;
  const sql = gunzipSync(readFileSync(join(copy, part.path))).toString('utf8');
  const broken = Buffer.from(`${sql}\nINSERT INTO \`cycle_a\` (\`id\`,\`no_such_column\`) VALUES (99,'secret-looking value');\n`, 'utf8');
  rewritePart(copy, part.path, gzipSync(broken), broken.length);
  const target = newDatabaseName('bad');
  const run = await civibackup(['restore', copy, '--db', dsnText(target), '--jobs', '2']);
  assert.equal(run.status, 1, JSON.stringify(run.last));
  assert.equal(run.last.code, 'DB_QUERY');
  const message = String(run.last.message);
  assert.match(message, /db\/200-data-cycle_a\.sql\.gz, statement 2 \(line \d+\)/);
  assert.match(message, /Unknown column 'no_such_column'/);
  assert.match(message, /statement: INSERT INTO `cycle_a`/);
});

test('a non-root account with rights on one database restores into it, and is told what to do elsewhere', { timeout: 300_000 }, async () => {
  const user = `${prefix}_u`.slice(0, 32);
  const allowed = newDatabaseName('limited');
  const other = newDatabaseName('forbidden');
  mariadbCli(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-restore'; CREATE USER '${user}'@'localhost' IDENTIFIED BY 'pw-restore'; GRANT ALL PRIVILEGES ON \`${allowed}\`.* TO '${user}'@'%'; GRANT ALL PRIVILEGES ON \`${allowed}\`.* TO '${user}'@'localhost';`);
  try {
    const dsn = (db: string) => dsnText(db, user, 'pw-restore');
    const refused = await civibackup(['restore', setV2], { CIVIBACKUP_DSN: dsn(other) });
    assert.equal(refused.status, 2, JSON.stringify(refused.last));
    assert.equal(refused.last.code, 'DB_PRIVILEGE');
    assert.match(String(refused.last.message), /could not be created/);
    assert.doesNotMatch(JSON.stringify(refused.events), /pw-restore/);
    assert.equal(databaseExists(other), false);

    const run = await civibackup(['restore', setV2], { CIVIBACKUP_DSN: dsn(allowed) });
    assert.equal(run.status, 0, JSON.stringify(run.last));
    const restored = await snapshotDatabase(allowed);
    const expected = await snapshotDatabase(source);
    assert.deepEqual(restored.tables, expected.tables);
    assert.deepEqual(Object.keys(restored.triggers), Object.keys(expected.triggers));
  } finally {
    mariadbCli(`DROP USER IF EXISTS '${user}'@'%'; DROP USER IF EXISTS '${user}'@'localhost';`);
  }
});
