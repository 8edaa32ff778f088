/**
 * Faults during a backup: the helper killed, its server connection killed, the disk full,
 * a wrong password, missing privileges. Each gives the documented exit code and message,
 * leaves no set that lists as complete, and leaves earlier sets intact.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorEvent } from '../../ts-src/protocol/events.js';
import { query } from '../../ts-src/helper/db/connection.js';
import { createDatabase, dropDatabase, dsnText, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';
import { createBank, currentConnectionId, FILLER_TABLE, waitForDumpOf } from './support/bank-db.js';
import { assertBundleBuilt, lastEvent, runHelper, startHelper } from './support/helper-run.js';

const SOURCE = uniqueName('cbt_dump_fault');
const SMALL = uniqueName('cbt_dump_small');
const USER = uniqueName('cbt_dump_u');
let dir: string;

before(async () => {
  assertBundleBuilt();
  dir = mkdtempSync(join(tmpdir(), 'cbt-dump-faults-'));
  await createDatabase(SOURCE);
  await createDatabase(SMALL);
  createBank(SOURCE);
  mariadbCli('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, "a");', SMALL);
});

after(() => {
  dropDatabase(SOURCE);
  dropDatabase(SMALL);
  try {
    mariadbCli(`DROP USER IF EXISTS '${USER}'@'localhost', '${USER}'@'127.0.0.1', '${USER}'@'%';`);
  } catch {
    /* cleanup */
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function createUser(): void {
  mariadbCli(`CREATE USER IF NOT EXISTS '${USER}'@'localhost' IDENTIFIED BY 'right-pass'; CREATE USER IF NOT EXISTS '${USER}'@'127.0.0.1' IDENTIFIED BY 'right-pass';`);
}

function setDirs(to: string): string[] {
  return existsSync(to) ? readdirSync(to).filter((n) => /^\d{8}T\d{6}Z-/.test(n)) : [];
}

/** Format-v2 set manifests at a destination (sets/<id>/manifest.json): a set that looks complete. */
function v2Manifests(to: string): string[] {
  const sets = join(to, 'sets');
  return existsSync(sets) ? readdirSync(sets).filter((id) => existsSync(join(sets, id, 'manifest.json'))) : [];
}

function listedSets(to: string): string[] {
  const run = runHelper(['list', to]);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  return (lastEvent(run) as unknown as { summary: { sets: { setId: string }[] } }).summary.sets.map((s) => s.setId);
}

test('helper killed with SIGKILL mid-dump: nothing lists, the next run clears the leftover and succeeds', { timeout: 600_000 }, async () => {
  const to = join(dir, 'killed');
  const since = await withRoot(SOURCE, currentConnectionId);
  const helper = startHelper(['backup', '--format', '1', '--to', to, '--db', dsnText(SOURCE)]);
  await withRoot(SOURCE, (c) => waitForDumpOf(c, SOURCE, FILLER_TABLE, since)).catch(async (e) => {
    helper.child.kill('SIGKILL');
    const r = await helper.done;
    throw new Error(`${String(e)}; helper output: ${r.stdout.slice(-1500)} ${r.stderr}`);
  });
  helper.child.kill('SIGKILL');
  const killed = await helper.done;
  assert.equal(killed.signal, 'SIGKILL');
  const leftovers = setDirs(to);
  assert.equal(leftovers.length, 1, 'the killed run left its unfinished set directory');
  assert.deepEqual(listedSets(to), []);

  const next = runHelper(['backup', '--format', '1', '--to', to, '--db', dsnText(SOURCE)]);
  assert.equal(next.status, 0, next.stdout + next.stderr);
  const removal = next.events.find((e) => e.type === 'warning' && e.message.includes(leftovers[0]));
  assert.ok(removal, 'a warning names the removed leftover');
  assert.ok(!setDirs(to).includes(leftovers[0]));
  assert.equal(listedSets(to).length, 1);
});

test('server connection killed mid-dump: exit 1, DB_LOST, no set left', { timeout: 600_000 }, async () => {
  const to = join(dir, 'lost');
  const since = await withRoot(SOURCE, currentConnectionId);
  const helper = startHelper(['backup', '--to', to, '--db', dsnText(SOURCE)]);
  await withRoot(SOURCE, async (c) => {
    const id = await waitForDumpOf(c, SOURCE, FILLER_TABLE, since);
    await query(c, `KILL ${id}`);
  });
  const run = await helper.done;
  assert.equal(run.status, 1, run.stdout + run.stderr);
  const error = lastEvent(run) as ErrorEvent;
  assert.equal(error.type, 'error');
  assert.equal(error.code, 'DB_LOST');
  assert.match(error.message, /connection was lost/i);
  assert.deepEqual(v2Manifests(to), [], 'no v2 set manifest was written');
  assert.deepEqual(setDirs(to), []);
  assert.deepEqual(listedSets(to), []);
});

test('full disk: exit 1, DISK_FULL, no complete-looking set, the earlier set intact', { timeout: 600_000 }, async (t) => {
  const mountPoint = join(dir, 'tmpfs');
  mkdirSync(mountPoint);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
  } catch (error) {
    t.skip(`cannot mount a tmpfs here (needs root): ${(error as Error).message}`);
    return;
  }
  try {
    const first = runHelper(['backup', '--format', '1', '--to', mountPoint, '--db', dsnText(SMALL)]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const earlier = listedSets(mountPoint);
    assert.equal(earlier.length, 1);

    const full = runHelper(['backup', '--format', '1', '--to', mountPoint, '--db', dsnText(SOURCE), '--compression', 'none']);
    assert.equal(full.status, 1, full.stdout + full.stderr);
    const error = lastEvent(full) as ErrorEvent;
    assert.equal(error.code, 'DISK_FULL');
    assert.match(error.hint, /free space/);
    assert.deepEqual(listedSets(mountPoint), earlier);
    assert.deepEqual(setDirs(mountPoint), earlier, 'the failed set directory is removed');
    // the earlier set still verifies part by part
    const verify = runHelper(['list', mountPoint]);
    assert.equal(verify.status, 0);
  } finally {
    execFileSync('umount', [mountPoint]);
  }
});

test('wrong password: exit 2, DB_CONNECT naming the account and what to do, password not echoed', { timeout: 120_000 }, () => {
  createUser();
  const to = join(dir, 'badpw');
  const run = runHelper(['backup', '--to', to], { CIVIBACKUP_DSN: dsnText(SMALL, USER, 'Wr0ng-Pass') });
  assert.equal(run.status, 2, run.stdout + run.stderr);
  const error = lastEvent(run) as ErrorEvent;
  assert.equal(error.code, 'DB_CONNECT');
  assert.match(error.message, new RegExp(`${USER}@127\\.0\\.0\\.1`));
  assert.match(error.message, /password/);
  assert.ok(!run.stdout.includes('Wr0ng-Pass') && !run.stderr.includes('Wr0ng-Pass'));
  assert.deepEqual(v2Manifests(to), []);
  assert.deepEqual(setDirs(to), []);
  assert.deepEqual(listedSets(to), []);
});

test('missing privileges: exit 2, DB_PRIVILEGE with the GRANT to run', { timeout: 120_000 }, () => {
  createUser();
  // SELECT only: the server would silently hide triggers and events from this user
  mariadbCli(`GRANT SELECT ON \`${SMALL}\`.* TO '${USER}'@'localhost'; GRANT SELECT ON \`${SMALL}\`.* TO '${USER}'@'127.0.0.1';`);
  const to = join(dir, 'nopriv');
  const run = runHelper(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsnText(SMALL, USER, 'right-pass') });
  assert.equal(run.status, 2, run.stdout + run.stderr);
  const error = lastEvent(run) as ErrorEvent;
  assert.equal(error.code, 'DB_PRIVILEGE');
  assert.match(error.message, /TRIGGER/);
  assert.match(error.message, new RegExp(`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${SMALL}\`\\.\\* TO '${USER}'@'`));
  assert.deepEqual(listedSets(to), []);

  // CiviCRM's documented GRANT list (no EVENT): the backup runs and warns about events
  const civicrmGrants = 'SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES, LOCK TABLES, TRIGGER, CREATE ROUTINE, ALTER ROUTINE, CREATE VIEW, SHOW VIEW';
  mariadbCli(`GRANT ${civicrmGrants} ON \`${SMALL}\`.* TO '${USER}'@'localhost'; GRANT ${civicrmGrants} ON \`${SMALL}\`.* TO '${USER}'@'127.0.0.1';`);
  const civicrm = runHelper(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsnText(SMALL, USER, 'right-pass') });
  assert.equal(civicrm.status, 0, civicrm.stdout + civicrm.stderr);
  assert.ok(civicrm.events.some((e) => e.type === 'warning' && /EVENT privilege/.test(e.message)));

  // with the GRANT from the message the same user succeeds without that warning
  mariadbCli(`GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${SMALL}\`.* TO '${USER}'@'localhost'; GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON \`${SMALL}\`.* TO '${USER}'@'127.0.0.1';`);
  const ok = runHelper(['backup', '--format', '1', '--to', to], { CIVIBACKUP_DSN: dsnText(SMALL, USER, 'right-pass') });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.ok(!ok.events.some((e) => e.type === 'warning'));
});
