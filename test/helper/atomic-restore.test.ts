/**
 * Restore over a live database (`restore SET --force`), through the built helper against the
 * real MariaDB, on a CiviCRM-shaped database (bench/civicrm-sample.ts: the phone triggers
 * and the function they call, views, an ARCHIVE log table) sharing its database with a
 * WordPress table:
 *  - a reader polling on its own connection sees only the old or the new data, never an
 *    empty, missing or half-loaded table (and does see that with --in-place, so it can tell);
 *  - --scope civicrm leaves wp_users as it was, --scope all replaces it;
 *  - the phone trigger works after the swap;
 *  - the helper SIGKILLed at each step (and in the middle of a RENAME held up by a reader's
 *    metadata lock) leaves the live database unchanged or restored, and the next restore
 *    says what it found and cleans or finishes it;
 *  - a staging database that cannot be created is a CONFIG error naming the GRANT.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createSampleDatabase } from '../../bench/civicrm-sample.js';
import { snapshotDatabase, type DatabaseSnapshot } from './support/db-snapshot.js';
import { killWhenPaused, runHelperAsync } from './support/helper-run.js';
import { firstNodeOnly } from './support/node-pass.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName } from './support/mariadb.js';

const prefix = uniqueName('cbt_atomic');
const source = `${prefix}_src`;
const reference = `${prefix}_ref`;
const databases: string[] = [source, reference];
const dirs: string[] = [];
/** The kill points and the lock waits are the journal's and MariaDB's behaviour; the restore's Node side runs under both Nodes in the first tests. */
const killAndLockTests = firstNodeOnly('SIGKILL at each step and MariaDB metadata-lock waits do not depend on Node\'s version');
let setDir = '';
let admin: mysql.Connection;

function newDatabase(what: string): string {
  const name = `${prefix}_${what}`;
  databases.push(name, `${name}_cbstage`, `${name}_cbold`);
  return name;
}

function databaseExists(name: string): boolean {
  return mariadbCli(`SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${name}';`).trim() === '1';
}

before(async () => {
  await createSampleDatabase({ database: source, scale: 0.002, withoutHugeRows: true, force: true });
  mariadbCli(`CREATE TABLE wp_users (ID BIGINT UNSIGNED PRIMARY KEY, user_login VARCHAR(60)) ENGINE=InnoDB; INSERT INTO wp_users VALUES (1, 'admin');`, source);
  const destination = mkdtempSync(join(tmpdir(), 'cbt-atomic-sets-'));
  dirs.push(destination);
  const backup = await runHelperAsync(['backup', '--format', '1', '--to', destination], { CIVIBACKUP_DSN: dsnText(source) });
  assert.equal(backup.status, 0, JSON.stringify(backup.last) + backup.stderr);
  setDir = String(backup.last.set);
  const restored = await runHelperAsync(['restore', setDir, '--db', dsnText(reference)]);
  assert.equal(restored.status, 0, JSON.stringify(restored.last));
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', charset: 'utf8mb4_unicode_ci' });
});

after(async () => {
  await admin?.end();
  for (const name of databases) dropDatabase(name);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A live site that has moved on since the set: CiviCRM rows changed and deleted, a CiviCRM
 * table the set does not have, and WordPress's user renamed.
 */
async function makeLive(name: string): Promise<void> {
  const run = await runHelperAsync(['restore', setDir, '--db', dsnText(name)]);
  assert.equal(run.status, 0, JSON.stringify(run.last));
  mariadbCli(
    `SET FOREIGN_KEY_CHECKS = 0;
     UPDATE civicrm_contact SET display_name = CONCAT('changed ', id);
     DELETE FROM civicrm_email WHERE id % 3 = 0;
     CREATE TABLE civicrm_added_later (id INT PRIMARY KEY) ENGINE=InnoDB;
     UPDATE wp_users SET user_login = 'renamed-in-wordpress';`,
    name,
  );
}

/** What a reader sees, in one statement (all tables opened together). */
async function observe(connection: mysql.Connection, database: string): Promise<string> {
  const d = `\`${database}\``;
  const [rows] = await connection.query<mysql.RowDataPacket[]>(
    `SELECT (SELECT COUNT(*) FROM ${d}.civicrm_contact) AS contacts,
            (SELECT COALESCE(SUM(CRC32(CONCAT_WS('|', id, display_name, sort_name))), 0) FROM ${d}.civicrm_contact) AS contactDigest,
            (SELECT COUNT(*) FROM ${d}.civicrm_email) AS emails,
            (SELECT COUNT(*) FROM ${d}.civicrm_phone) AS phones,
            (SELECT user_login FROM ${d}.wp_users WHERE ID = 1) AS wp`,
  );
  const r = rows[0];
  return `${r.contacts}/${r.contactDigest}/${r.emails}/${r.phones}/${r.wp}`;
}

interface Poller {
  stop(): Promise<{ seen: Map<string, number>; errors: string[]; longestWaitMs: number; polls: number }>;
}

/** Polls as fast as it can on its own connection until stopped. */
async function startPoller(database: string): Promise<Poller> {
  const connection = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', charset: 'utf8mb4_unicode_ci' });
  const seen = new Map<string, number>();
  const errors: string[] = [];
  let stopped = false;
  let longestWaitMs = 0;
  let polls = 0;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        const state = await observe(connection, database);
        seen.set(state, (seen.get(state) ?? 0) + 1);
      } catch (error) {
        errors.push((error as Error).message);
      }
      polls += 1;
      longestWaitMs = Math.max(longestWaitMs, Date.now() - started);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await connection.end();
      return { seen, errors, longestWaitMs, polls };
    },
  };
}

/** The snapshot a live database must have after a restore with scope civicrm: the set's CiviCRM part, its own WordPress table. */
async function expectedAfterCivicrmRestore(liveBefore: DatabaseSnapshot): Promise<DatabaseSnapshot> {
  const expected = await snapshotDatabase(reference);
  expected.tables.wp_users = liveBefore.tables.wp_users;
  return expected;
}

async function phoneTriggerWorks(database: string): Promise<string | null> {
  const [result] = await admin.query<mysql.ResultSetHeader>(`INSERT INTO \`${database}\`.civicrm_phone (contact_id, phone) VALUES (1, '+41 (44) 555-12 34')`);
  const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT phone_numeric FROM \`${database}\`.civicrm_phone WHERE id = ?`, [result.insertId]);
  await admin.query(`DELETE FROM \`${database}\`.civicrm_phone WHERE id = ?`, [result.insertId]);
  return rows[0].phone_numeric as string | null;
}

test('a reader polling during a restore over the live database sees only the old or the new data; CiviCRM scope leaves wp_users; triggers work', { timeout: 300_000 }, async () => {
  const live = newDatabase('readers');
  await makeLive(live);
  const liveBefore = await snapshotDatabase(live);
  const oldState = await observe(admin, live);
  const newState = (await observe(admin, reference)).replace(/\/[^/]*$/, '/renamed-in-wordpress');
  assert.notEqual(oldState, newState);

  const poller = await startPoller(live);
  const run = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force', '--scope', 'civicrm']);
  const seen = await poller.stop();
  assert.equal(run.status, 0, JSON.stringify(run.last) + run.stderr);
  assert.deepEqual(seen.errors, [], 'the reader never failed (no missing table)');
  const states = [...seen.seen.keys()];
  assert.deepEqual(states.filter((s) => s !== oldState && s !== newState), [], `only the old (${oldState}) or the new (${newState}) data was seen`);
  assert.ok(seen.seen.has(oldState) && seen.seen.has(newState), 'the reader saw both sides of the swap');
  const summary = (run.last.summary as { databases: Array<Record<string, unknown>> }).databases[0];
  assert.equal(summary.mode, 'atomic');
  assert.equal(summary.untouchedTables, 1, 'wp_users was outside the scope');
  process.stdout.write(`# ${seen.polls} polls, longest poll ${seen.longestWaitMs} ms; swap ${String(summary.swapMs)} ms, trigger gap ${String(summary.triggerGapMs)} ms\n`);

  assert.deepEqual(await snapshotDatabase(live), await expectedAfterCivicrmRestore(liveBefore), 'CiviCRM part = the set, wp_users as it was, civicrm_added_later gone');
  assert.equal(await phoneTriggerWorks(live), '41445551234', 'the phone trigger fills phone_numeric after the swap');
  assert.equal(databaseExists(`${live}_cbstage`) || databaseExists(`${live}_cbold`), false, 'work databases dropped');

  // --scope all: WordPress's table is the set's too.
  const all = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force', '--scope', 'all']);
  assert.equal(all.status, 0, JSON.stringify(all.last));
  assert.deepEqual(await snapshotDatabase(live), await snapshotDatabase(reference));
});

test('the same reader does see empty or partial tables with --in-place (the check can fail)', { timeout: 300_000 }, async () => {
  const live = newDatabase('inplace');
  await makeLive(live);
  const oldState = await observe(admin, live);
  const newState = await observe(admin, reference);
  const poller = await startPoller(live);
  const run = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force', '--in-place']);
  const seen = await poller.stop();
  assert.equal(run.status, 0, JSON.stringify(run.last));
  const other = [...seen.seen.keys()].filter((s) => s !== oldState && s !== newState);
  assert.ok(other.length > 0 || seen.errors.length > 0, 'in place, the reader sees missing, empty or partly loaded tables');
});

test('killed at every step, the live database is unchanged or restored, and the next restore cleans or finishes', { timeout: 600_000, skip: killAndLockTests }, async () => {
  const points: Array<{ point: string; expect: 'old' | 'old-data' | 'new'; next: string }> = [
    { point: 'loaded', expect: 'old', next: 'RESTORE_LEFTOVER' },
    { point: 'before-swap', expect: 'old', next: 'RESTORE_LEFTOVER' },
    // In the trigger gap before the RENAME: the tables are the old ones; their triggers come back with the next run.
    { point: 'triggers-dropped', expect: 'old-data', next: 'RESTORE_LEFTOVER' },
    { point: 'swapped', expect: 'new', next: 'RESTORE_FINISHED' },
    { point: 'finished', expect: 'new', next: 'RESTORE_FINISHED' },
  ];
  for (const { point, expect, next } of points) {
    const live = newDatabase(`kill_${point.replace(/-/g, '_')}`);
    await makeLive(live);
    const before = await snapshotDatabase(live);
    const oldState = await observe(admin, live);
    const newState = (await observe(admin, reference)).replace(/\/[^/]*$/, '/renamed-in-wordpress');
    const args = ['restore', setDir, '--db', dsnText(live), '--force'];
    await killWhenPaused(args, point);

    const now = await snapshotDatabase(live);
    if (expect === 'old') assert.deepEqual(now, before, `${point}: live unchanged`);
    if (expect === 'old-data') assert.deepEqual(now.tables, before.tables, `${point}: live tables unchanged`);
    assert.equal(await observe(admin, live), expect === 'new' ? newState : oldState, `${point}: the reader sees ${expect === 'new' ? 'the new' : 'the old'} data`);

    const again = await runHelperAsync(args);
    assert.equal(again.status, 0, `${point}: ${JSON.stringify(again.last)}`);
    const warnings = again.events.filter((e) => e.type === 'warning').map((e) => String(e.code));
    assert.ok(warnings.includes(next), `${point}: the next restore says what it found (${warnings.join(', ')})`);
    assert.deepEqual(await snapshotDatabase(live), await expectedAfterCivicrmRestore(before), `${point}: restored after the next run`);
    assert.equal(databaseExists(`${live}_cbstage`) || databaseExists(`${live}_cbold`), false, `${point}: no work database left`);
    for (const name of [live, `${live}_cbstage`, `${live}_cbold`]) dropDatabase(name);
  }
});

test('killed while its RENAME waits for a reader\'s metadata lock: old or new, never a mix; the next restore finishes', { timeout: 300_000, skip: killAndLockTests }, async () => {
  const live = newDatabase('kill_midswap');
  await makeLive(live);
  const before = await snapshotDatabase(live);
  const oldState = await observe(admin, live);
  const newState = (await observe(admin, reference)).replace(/\/[^/]*$/, '/renamed-in-wordpress');
  const holder = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  try {
    await holder.query('START TRANSACTION');
    await holder.query(`SELECT COUNT(*) FROM \`${live}\`.civicrm_contact`);
    const renameWaiting = async (): Promise<boolean> => {
      const [rows] = await admin.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE%' AND INFO LIKE ? AND STATE LIKE '%metadata lock%'", [`%${live}%`]);
      return Number(rows[0].n) > 0;
    };
    await killWhenPaused(['restore', setDir, '--db', dsnText(live), '--force'], null, renameWaiting);
  } finally {
    await holder.query('COMMIT');
    await holder.end();
  }
  // The server finishes or abandons the statement of the dead client: wait until it is gone.
  for (let i = 0; i < 200; i += 1) {
    const [rows] = await admin.query<mysql.RowDataPacket[]>("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'RENAME TABLE%' AND INFO LIKE ?", [`%${live}%`]);
    if (Number(rows[0].n) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const state = await observe(admin, live);
  assert.ok(state === oldState || state === newState, `old (${oldState}) or new (${newState}), not ${state}`);
  process.stdout.write(`# killed mid-swap: the live database then held the ${state === oldState ? 'old' : 'new'} data\n`);
  const again = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force']);
  assert.equal(again.status, 0, JSON.stringify(again.last));
  assert.deepEqual(await snapshotDatabase(live), await expectedAfterCivicrmRestore(before));
  assert.equal(await phoneTriggerWorks(live), '41445551234');
});

test('--keep-old keeps the replaced tables and the next restore refuses to drop them; no privilege for the staging database is a CONFIG error naming the GRANT', { timeout: 300_000 }, async () => {
  const live = newDatabase('keepold');
  await makeLive(live);
  const kept = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force', '--keep-old']);
  assert.equal(kept.status, 0, JSON.stringify(kept.last));
  const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT display_name FROM \`${live}_cbold\`.civicrm_contact WHERE id = 1`);
  assert.equal(rows[0].display_name, 'changed 1', 'the replaced rows are kept');
  const refused = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force']);
  assert.equal(refused.status, 2);
  assert.equal(refused.last.code, 'CONFIG');
  assert.match(String(refused.last.message), new RegExp(`DROP DATABASE \`${live}_cbold\``));
  dropDatabase(`${live}_cbold`);

  // An account that may only use the live database.
  const user = `${prefix}_u`.slice(0, 32);
  mariadbCli(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw'; GRANT ALL PRIVILEGES ON \`${live}\`.* TO '${user}'@'%';`);
  try {
    const before = await snapshotDatabase(live);
    const denied = await runHelperAsync(['restore', setDir, '--force'], { CIVIBACKUP_DSN: dsnText(live, user, 'pw') });
    assert.equal(denied.status, 2, JSON.stringify(denied.last));
    assert.equal(denied.last.code, 'CONFIG');
    const message = String(denied.last.message);
    assert.ok(message.includes(`GRANT ALL PRIVILEGES ON \`${live.replace(/_/g, '\\_')}\\_cbstage\`.* TO '${user}'@'%'`), message);
    assert.deepEqual(await snapshotDatabase(live), before, 'nothing changed');
  } finally {
    mariadbCli(`DROP USER IF EXISTS '${user}'@'%';`);
  }
});

test('a long query holding a table: the swap waits a bounded time, puts the triggers back, retries, and gives up leaving the live database as it was', { timeout: 300_000, skip: killAndLockTests }, async () => {
  const live = newDatabase('longquery');
  await makeLive(live);
  const before = await snapshotDatabase(live);
  const holder = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  try {
    // An open transaction that read civicrm_contact holds its metadata lock, like a long report.
    await holder.query('START TRANSACTION');
    await holder.query(`SELECT COUNT(*) FROM \`${live}\`.civicrm_contact`);
    const run = await runHelperAsync(['restore', setDir, '--db', dsnText(live), '--force'], { CIVIBACKUP_SWAP_LOCK_WAIT_SECONDS: '1' });
    assert.equal(run.status, 1, JSON.stringify(run.last));
    assert.match(String(run.last.message), /was not changed/);
    assert.equal(run.events.filter((e) => e.type === 'warning' && e.code === 'SWAP_WAITING').length, 2, 'two retries');
  } finally {
    await holder.query('COMMIT');
    await holder.end();
  }
  assert.deepEqual(await snapshotDatabase(live), before, 'tables, triggers and all other objects as they were');
  assert.equal(databaseExists(`${live}_cbstage`) || databaseExists(`${live}_cbold`), false);
});
