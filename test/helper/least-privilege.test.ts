/**
 * Least privilege: a real Standalone site installed by CiviCRM's installer AS a database user
 * holding only the privileges CiviCRM's installation guide lists, on its own database (no
 * RELOAD, PROCESS, SUPER, no CREATE elsewhere). Backup (DSN from the site's settings file),
 * quick verify and restore work as that user; what needs another database either uses one
 * the user was granted or says exactly what to grant, and running that GRANT makes it work.
 * A function whose body the user cannot see stops the backup, naming it and the fix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { openSet } from '../../ts-src/helper/set/set-reader.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDsn } from '../../ts-src/helper/db/dsn-sources.js';
import { CIVICRM_DATABASE_PRIVILEGES } from '../../ts-src/helper/db/grants.js';
import { buildSite, civicrmSource, type BuiltSite } from './support/civicrm-site.js';
import { databaseShape, type DatabaseShape } from './support/compare-db.js';
import { createDbUser, type TestDbUser } from './support/db-user.js';
import { assertBundleBuilt, runHelperAsync, type CliRun } from './support/helper-run.js';
import { dropDatabase, dsnText, mariadbCli, uniqueName, withRoot } from './support/mariadb.js';

const source = civicrmSource();

/** The account as CURRENT_USER() names it in messages (TCP to 127.0.0.1). */
function account(user: TestDbUser): string {
  return `'${user.user}'@'127.0.0.1'`;
}

function failure(run: CliRun): { code: string; message: string } {
  assert.notEqual(run.status, 0, 'the helper must fail');
  assert.equal(run.last.type, 'error', run.output.slice(-2000));
  return { code: String(run.last.code), message: String(run.last.message) };
}

/** The GRANT statements a message tells the administrator to run. */
function statementsIn(message: string): string[] {
  return [...message.matchAll(/((?:CREATE DATABASE IF NOT EXISTS|CREATE DATABASE|GRANT) [^;]+;)/g)].map((m) => m[1]);
}

async function shapeOf(database: string): Promise<DatabaseShape> {
  return withRoot(database, (connection) => databaseShape(connection, database));
}

/** The complete sets at a destination, newest first, as `civibackup list` finds them (both formats). */
async function completeSets(destination: string): Promise<string[]> {
  const listed = await runHelperAsync(['list', destination]);
  assert.equal(listed.status, 0, listed.output.slice(-2000));
  return (listed.last.summary as { sets: Array<{ location: string }> }).sets.map((s) => s.location);
}

describe('a site installed as a user with only CiviCRM\'s documented privileges', { skip: typeof source === 'string' ? source : false }, () => {
  const password = "lp-Pw'9@x";
  let user: TestDbUser;
  let site: BuiltSite;
  let work: string;
  let setDir: string;
  let liveShape: DatabaseShape;
  const siteDb = uniqueName('cbt_lp_site');
  const copyDb = uniqueName('cbt_lp_copy');
  const scratchDb = uniqueName('cbt_lp_scratch');
  const ungrantedDb = uniqueName('cbt_lp_new');
  const userEnv = (database: string) => ({ CIVIBACKUP_DSN: dsnText(database, user.user, password) });

  before(
    async () => {
      if (typeof source === 'string') return;
      user = createDbUser('cbt_lp', password);
      for (const db of [siteDb, copyDb, scratchDb]) {
        mariadbCli(`CREATE DATABASE \`${db}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`);
        user.grant(`GRANT ${CIVICRM_DATABASE_PRIVILEGES.join(', ')} ON \`${db}\`.* TO {user}`);
      }
      site = await buildSite('standalone', source, { prefix: 'cbt_lp_site', database: siteDb, user: user.user, password });
      work = mkdtempSync(join(tmpdir(), 'cbt-least-priv-'));
      liveShape = await shapeOf(siteDb);
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await site?.remove();
    for (const db of [siteDb, copyDb, scratchDb, ungrantedDb, `${siteDb}_cbstage`, `${siteDb}_cbold`]) dropDatabase(db);
    try {
      mariadbCli(`DROP FUNCTION IF EXISTS \`${siteDb}\`.cbt_hidden_fn;`);
    } catch {
      /* the database is gone already */
    }
    user?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the installer ran as that user: its DSN is in the settings file, it holds nothing global, it defined the function and triggers', async () => {
    const resolved = await resolveDsn({ env: {}, settingsFile: site.settingsFile, role: 'main' });
    assert.deepEqual({ user: resolved?.dsn.user, password: resolved?.dsn.password, database: resolved?.dsn.database }, { user: user.user, password, database: siteDb });
    const grants = mariadbCli(`SHOW GRANTS FOR ${account(user)};`);
    assert.match(grants, /GRANT USAGE ON \*\.\*/);
    assert.doesNotMatch(grants, /ON \*\.\*.*(RELOAD|PROCESS|SUPER|CREATE|SELECT)/);
    const definers = mariadbCli(
      `SELECT DISTINCT DEFINER FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${siteDb}' UNION SELECT DISTINCT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${siteDb}';`,
    ).trim();
    assert.equal(definers, `${user.user}@127.0.0.1`);
    assert.equal(mariadbCli(`SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${siteDb}' AND ROUTINE_NAME = 'civicrm_strip_non_numeric';`).trim(), '1');
    assert.ok(Number(mariadbCli(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${siteDb}';`)) > 0, 'CiviCRM made triggers');
  });

  test('backup --settings and a quick verify, as that user', { timeout: 600_000 }, async () => {
    assertBundleBuilt();
    const to = join(work, 'sets');
    const backup = await runHelperAsync(['backup', '--settings', site.settingsFile, '--to', to, '--no-skip-cache-data'], { CIVIBACKUP_DSN: '', CIVIBACKUP_LOGGING_DSN: '' });
    assert.equal(backup.status, 0, backup.output.slice(-3000));
    [setDir] = await completeSets(to);
    assert.ok(setDir, 'the backup wrote a complete set');
    const counts = (await openSet(setDir)).manifest.databases[0]!.counts;
    assert.equal(counts.functions, Number(mariadbCli(`SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '${siteDb}' AND ROUTINE_TYPE = 'FUNCTION';`)));
    assert.equal(counts.triggers, Number(mariadbCli(`SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '${siteDb}';`)));
    const verify = await runHelperAsync(['verify', setDir]);
    assert.equal(verify.status, 0, verify.output.slice(-3000));
  });

  test('restore into a database the user was granted: identical to the live site', { timeout: 600_000 }, async () => {
    const restore = await runHelperAsync(['restore', setDir], userEnv(copyDb));
    assert.equal(restore.status, 0, restore.output.slice(-3000));
    assert.deepEqual(await shapeOf(copyDb), liveShape);
  });

  test('restore into a database the user may not create: the exact statements to run, and they are enough', { timeout: 600_000 }, async () => {
    const refused = failure(await runHelperAsync(['restore', setDir], userEnv(ungrantedDb)));
    assert.equal(refused.code, 'DB_PRIVILEGE', refused.message);
    const statements = statementsIn(refused.message);
    assert.deepEqual(statements, [
      `CREATE DATABASE IF NOT EXISTS \`${ungrantedDb}\`;`,
      `GRANT ${CIVICRM_DATABASE_PRIVILEGES.join(', ')} ON \`${ungrantedDb}\`.* TO ${account(user)};`,
    ]);
    mariadbCli(statements.join('\n'));
    const restore = await runHelperAsync(['restore', setDir], userEnv(ungrantedDb));
    assert.equal(restore.status, 0, restore.output.slice(-3000));
  });

  test('deep verify: a scratch database the user may create is refused with what to grant; the granted one works', { timeout: 600_000 }, async () => {
    const noDatabase = `mysql://${encodeURIComponent(user.user)}:${encodeURIComponent(password)}@127.0.0.1:3306`;
    const refused = failure(await runHelperAsync(['verify', setDir, '--deep'], { CIVIBACKUP_SCRATCH_DSN: noDatabase }));
    assert.equal(refused.code, 'DB_PRIVILEGE', refused.message);
    assert.ok(refused.message.includes(`GRANT ${CIVICRM_DATABASE_PRIVILEGES.join(', ')} ON \`civibackup_scratch\`.* TO ${account(user)};`), refused.message);
    assert.match(refused.message, /--scratch-db/);
    const deep = await runHelperAsync(['verify', setDir, '--deep'], { CIVIBACKUP_SCRATCH_DSN: dsnText(scratchDb, user.user, password) });
    assert.equal(deep.status, 0, deep.output.slice(-3000));
    assert.equal(mariadbCli(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${scratchDb}';`).trim(), '0', 'the granted scratch database is left empty');
  });

  test('restore over the live database: --in-place as is; the atomic restore once its staging and old databases are granted as the message says', { timeout: 900_000 }, async () => {
    const inPlace = await runHelperAsync(['restore', setDir, '--force', '--in-place'], userEnv(siteDb));
    assert.equal(inPlace.status, 0, inPlace.output.slice(-3000));
    assert.deepEqual(await shapeOf(siteDb), liveShape);
    // The atomic restore loads into <db>_cbstage and moves the replaced tables to <db>_cbold:
    // databases CiviCRM's privileges do not cover. Each refusal gives the GRANT to run.
    let atomic = await runHelperAsync(['restore', setDir, '--force'], userEnv(siteDb));
    for (let round = 0; atomic.status !== 0 && round < 2; round += 1) {
      const refused = failure(atomic);
      const statements = statementsIn(refused.message);
      assert.ok(statements.length > 0 && statements.every((s) => s.includes(account(user))), refused.message);
      mariadbCli(statements.join('\n'));
      atomic = await runHelperAsync(['restore', setDir, '--force'], userEnv(siteDb));
    }
    assert.equal(atomic.status, 0, atomic.output.slice(-3000));
    assert.deepEqual(await shapeOf(siteDb), liveShape);
  });

  test('a function whose body the user cannot see stops the backup, naming it and the GRANT that fixes it', { timeout: 600_000 }, async () => {
    mariadbCli(`CREATE DEFINER='root'@'127.0.0.1' FUNCTION \`${siteDb}\`.cbt_hidden_fn() RETURNS INT DETERMINISTIC RETURN 42;`);
    const to = join(work, 'hidden');
    const refused = failure(await runHelperAsync(['backup', '--settings', site.settingsFile, '--to', to], { CIVIBACKUP_DSN: '' }));
    assert.equal(refused.code, 'DB_PRIVILEGE', refused.message);
    assert.ok(refused.message.includes(`function \`${siteDb}\`.\`cbt_hidden_fn\``), refused.message);
    assert.ok(refused.message.includes("created by 'root'@'127.0.0.1'"), refused.message);
    const fix = `GRANT SELECT ON mysql.proc TO ${account(user)};`;
    assert.ok(refused.message.includes(fix), refused.message);
    // Nothing that looks like a set was left behind.
    assert.deepEqual(existsSync(to) ? await completeSets(to) : [], []);
    mariadbCli(fix);
    try {
      const backup = await runHelperAsync(['backup', '--settings', site.settingsFile, '--to', to], { CIVIBACKUP_DSN: '' });
      assert.equal(backup.status, 0, backup.output.slice(-3000));
      const [set] = await completeSets(to);
      assert.ok((await openSet(set!)).manifest.databases[0]!.objects?.functions?.includes('cbt_hidden_fn'));
    } finally {
      mariadbCli(`REVOKE SELECT ON mysql.proc FROM ${account(user)};`);
    }
  });
});
