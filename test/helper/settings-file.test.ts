/**
 * --settings reads the DSNs of the settings files CiviCRM 6.17's own installer writes, on a
 * real Standalone and a real WordPress + CiviCRM site built here by the shared scripts (once
 * for this file, in parallel), and refuses what PHP computes at run time. The refusal cases
 * are the real files with one define changed, and small unit cases below.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { openSet } from '../../ts-src/helper/set/set-reader.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveDsn } from '../../ts-src/helper/db/dsn-sources.js';
import { extractDefine, readSettingsDsns } from '../../ts-src/helper/db/settings-file.js';
import { BackupError } from '../../ts-src/helper/core/errors.js';
import { buildSite, civicrmSource, type BuiltSite } from './support/civicrm-site.js';
import { createDbUser, type TestDbUser } from './support/db-user.js';
import { assertBundleBuilt, runHelperAsync } from './support/helper-run.js';
import { mariadbCli } from './support/mariadb.js';

function configError(pattern: RegExp, secrets: string[] = []) {
  return (e: unknown) => {
    assert.ok(e instanceof BackupError, String(e));
    assert.equal(e.code, 'CONFIG', e.message);
    assert.match(e.message, pattern);
    for (const s of secrets) assert.ok(!e.message.includes(s), `the message leaks ${s}: ${e.message}`);
    return true;
  };
}

const source = civicrmSource();

describe('settings files written by CiviCRM 6.17.2\'s installer', { skip: typeof source === 'string' ? source : false }, () => {
  // The WordPress site is installed as its own database user whose password needs escaping
  // in a DSN: the parser must read it back exactly as CiviCRM would.
  const wpPassword = "p@ss:w'rd/%1";
  let wpUser: TestDbUser;
  let standalone: BuiltSite;
  let wordpress: BuiltSite;
  let work: string;

  before(
    async () => {
      if (typeof source === 'string') return;
      wpUser = createDbUser('cbt_sfwp', wpPassword);
      const wpPrefix = 'cbt_sf_wp';
      // The database name is unique per build: grant on the prefix's pattern (\_ is a literal _).
      wpUser.grant(`GRANT ALL PRIVILEGES ON \`${wpPrefix.replace(/_/g, '\\_')}\\_%\`.* TO {user}`);
      const built = await Promise.allSettled([buildSite('standalone', source, { prefix: 'cbt_sf_sa' }), buildSite('wordpress', source, { prefix: wpPrefix, user: wpUser.user, password: wpPassword })]);
      for (const b of built) if (b.status === 'fulfilled') (b.value.kind === 'standalone' ? (standalone = b.value) : (wordpress = b.value));
      const failed = built.find((b) => b.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      work = mkdtempSync(join(tmpdir(), 'cbt-settings-'));
    },
    { timeout: 900_000 },
  );

  after(async () => {
    await standalone?.remove();
    await wordpress?.remove();
    wpUser?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** The real file with one change, written beside the work files (never into the site). */
  function variant(site: BuiltSite, name: string, change: (php: string) => string): string {
    const original = readFileSync(site.settingsFile, 'utf8');
    const changed = change(original);
    assert.notEqual(changed, original, `the change for ${name} must apply to the installer's file`);
    const file = join(work, `${site.kind}-${name}.settings.php`);
    writeFileSync(file, changed);
    return file;
  }

  /** The installer's non-test CIVICRM_DSN line, as it wrote it. */
  function literalDsnLine(site: BuiltSite): RegExp {
    const php = readFileSync(site.settingsFile, 'utf8');
    // Not the template's comment (" *      define('CIVICRM_DSN', ...)"): the code line.
    const line = php.split('\n').find((l) => /^\s*define\('CIVICRM_DSN', 'mysql:/.test(l));
    assert.ok(line, 'the installer wrote a literal CIVICRM_DSN');
    assert.match(php, /CIVICRM_UF === 'UnitTests'[\s\S]*\$GLOBALS\['_CV'\]\['TEST_DB_DSN'\][\s\S]*define\('CIVICRM_DSN', 'mysql:/, 'the test branch comes first, as in the template');
    return new RegExp(line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  }

  test('Standalone: CIVICRM_DSN is the site\'s literal DSN, not the UnitTests branch; the logging DSN is CIVICRM_DSN', async () => {
    const resolved = await resolveDsn({ env: {}, settingsFile: standalone.settingsFile, role: 'main' });
    assert.ok(resolved);
    assert.deepEqual(
      { user: resolved.dsn.user, password: resolved.dsn.password, host: resolved.dsn.host, port: resolved.dsn.port, database: resolved.dsn.database },
      { user: 'root', password: '', host: '127.0.0.1', port: 3306, database: standalone.database },
    );
    assert.equal(resolved.source, `CIVICRM_DSN in ${standalone.settingsFile}`);
    const found = await readSettingsDsns(standalone.settingsFile);
    assert.equal(found.loggingIsMain, true);
    assert.equal(found.loggingDsn, found.dsn);
    assert.deepEqual(found.errors, {});
    // No separate logging database: nothing more to dump.
    assert.equal(await resolveDsn({ env: {}, settingsFile: standalone.settingsFile, role: 'logging' }), undefined);
  });

  test('WordPress: the DSN of wp-config.php\'s user, its password decoded exactly; CIVICRM_UF_DSN names the same database', async () => {
    const resolved = await resolveDsn({ env: {}, settingsFile: wordpress.settingsFile, role: 'main' });
    assert.ok(resolved);
    assert.deepEqual(
      { user: resolved.dsn.user, password: resolved.dsn.password, host: resolved.dsn.host, port: resolved.dsn.port, database: resolved.dsn.database },
      { user: wpUser.user, password: wpPassword, host: '127.0.0.1', port: 3306, database: wordpress.database },
    );
    const found = await readSettingsDsns(wordpress.settingsFile);
    assert.ok(found.ufDsn, 'WordPress\'s settings file defines CIVICRM_UF_DSN');
    assert.equal(found.loggingIsMain, true);
  });

  test('the README\'s first example works on the real WordPress site: backup --settings, as the site\'s own user', { timeout: 300_000 }, async () => {
    assertBundleBuilt();
    const to = join(work, 'sets');
    // No CIVIBACKUP_DSN: the DSN comes from the settings file alone.
    const env = { CIVIBACKUP_DSN: '', CIVIBACKUP_LOGGING_DSN: '' };
    const run = await runHelperAsync(['backup', '--settings', wordpress.settingsFile, '--to', to], env);
    assert.equal(run.status, 0, run.output.slice(-3000));
    assert.equal(run.last.type, 'result', JSON.stringify(run.last));
    assert.ok(!run.output.includes(wpPassword), 'the password never appears in the output');
    const listed = await runHelperAsync(['list', to]);
    const [set] = (listed.last.summary as { sets: Array<{ location: string }> }).sets;
    assert.ok(set, listed.output.slice(-2000));
    const { manifest } = await openSet(set.location);
    assert.deepEqual(
      manifest.databases.map((d) => [d.role, d.name]),
      [['main', wordpress.database]],
    );
    const dumped = manifest.databases[0].tables.map((t) => t.name).sort();
    const live = mariadbCli(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${wordpress.database}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`).trim().split('\n').sort();
    assert.ok(live.includes('civicrm_contact') && live.includes('wp_users'));
    assert.deepEqual(dumped, live, 'the set holds every table of the site\'s database');
  });

  test('a CIVICRM_DSN computed at run time is refused with what to do, naming the line, never the password', async () => {
    for (const site of [standalone, wordpress]) {
      const line = literalDsnLine(site);
      const secrets = site === wordpress ? [wpPassword, encodeURIComponent(wpPassword)] : [];
      const fromEnv = variant(site, 'getenv', (php) => php.replace(line, "    define('CIVICRM_DSN', getenv('SITE_DSN'));"));
      await assert.rejects(resolveDsn({ env: {}, settingsFile: fromEnv, role: 'main' }), configError(/CIVICRM_DSN in .* \(line \d+\) cannot be read without running PHP: it is computed by PHP \(getenv\('\.\.\.'\)\)\. Pass the DSN in the environment variable CIVIBACKUP_DSN/, secrets));
      const concatenated = variant(site, 'concat', (php) => php.replace(line, (m) => `    $dbPassword = 'x';\n${m.replace(/'mysql:\/\/[^']*'/, (dsn) => `${dsn.slice(0, 12)}' . $dbPassword . '@127.0.0.1/db?new_link=true'`)}`));
      await assert.rejects(resolveDsn({ env: {}, settingsFile: concatenated, role: 'main' }), configError(/it is computed by PHP \('\.\.\.' \. \$dbPassword \. '\.\.\.'\)/, secrets));
      // Which define counts depends on the running site: refused rather than guessed.
      const conditional = variant(site, 'conditional', (php) => php.replace(/if \(!defined\('CIVICRM_DSN'\)\) \{/, "if (getenv('CIVICRM_DEV')) { define('CIVICRM_DSN', 'mysql://dev@127.0.0.1/dev'); }\n$&"));
      await assert.rejects(resolveDsn({ env: {}, settingsFile: conditional, role: 'main' }), configError(/it is defined only under if \(getenv\('CIVICRM_DEV'\)\), which depends on the running site/, secrets));
      // The DSN given in the environment is used instead, and the logging DSN (defined as
      // CIVICRM_DSN) follows it rather than failing.
      const env = { CIVIBACKUP_DSN: 'mysql://root@127.0.0.1:3306/fromenv' };
      assert.equal((await resolveDsn({ env, settingsFile: fromEnv, role: 'main' }))?.dsn.database, 'fromenv');
      assert.equal(await resolveDsn({ env, settingsFile: fromEnv, role: 'logging' }), undefined);
    }
  });

  test('CIVICRM_UF_DSN is never taken for CiviCRM\'s database', async () => {
    // A CMS in its own database (Drupal, Backdrop, Joomla do this): CIVICRM_DSN still counts.
    const separate = variant(standalone, 'uf-separate', (php) => php.replace(/define\('CIVICRM_UF_DSN', 'mysql:\/\/[^']*'\)/, "define('CIVICRM_UF_DSN', 'mysql://cms:cmspw@127.0.0.1:3306/cms_db?new_link=true')"));
    assert.equal((await resolveDsn({ env: {}, settingsFile: separate, role: 'main' }))?.dsn.database, standalone.database);
    // Without CIVICRM_DSN, the CMS's DSN is not a fallback.
    const noDsn = variant(standalone, 'no-dsn', (php) => php.replace(literalDsnLine(standalone), "    // (no literal)"));
    await assert.rejects(resolveDsn({ env: {}, settingsFile: noDsn, role: 'main' }), configError(/does not define CIVICRM_DSN\. It defines CIVICRM_UF_DSN, which is the CMS's database, not CiviCRM's/));
  });

  test('a separate logging database (CIVICRM_LOGGING_DSN as a literal) is read as its own DSN', async () => {
    const separate = variant(wordpress, 'logging', (php) => php.replace("define('CIVICRM_LOGGING_DSN', CIVICRM_DSN);", "define('CIVICRM_LOGGING_DSN', 'mysql://logger:lpw@127.0.0.1:3306/civilog?new_link=true');"));
    const logging = await resolveDsn({ env: {}, settingsFile: separate, role: 'logging' });
    assert.deepEqual({ user: logging?.dsn.user, database: logging?.dsn.database }, { user: 'logger', database: 'civilog' });
    const computed = variant(wordpress, 'logging-computed', (php) => php.replace("define('CIVICRM_LOGGING_DSN', CIVICRM_DSN);", "define('CIVICRM_LOGGING_DSN', str_replace('/wp', '/log', CIVICRM_DSN));"));
    await assert.rejects(resolveDsn({ env: {}, settingsFile: computed, role: 'logging' }), configError(/CIVICRM_LOGGING_DSN .* computed by PHP .* CIVIBACKUP_LOGGING_DSN/));
  });
});

// --- small unit cases: how the reader follows PHP, and what it refuses ---

test('the first define() that runs wins, as in PHP; conditions on defined() and CIVICRM_UF are followed', () => {
  const php = `<?php
if (!defined('CIVICRM_DSN') && CIVICRM_UF !== 'UnitTests') { define('CIVICRM_DSN', 'mysql://a@h/first'); }
define('CIVICRM_DSN', 'mysql://a@h/second');
if ('UnitTests' == CIVICRM_UF) define('CIVICRM_LOGGING_DSN', $GLOBALS['x']); elseif (defined('CIVICRM_DSN')): define('CIVICRM_LOGGING_DSN', 'mysql://l@h/' . 'log'); endif;
defined('CIVICRM_UF_DSN') || define('CIVICRM_UF_DSN', "mysql://u@h/cms\\x");
`;
  assert.equal(extractDefine(php, 'CIVICRM_DSN'), 'mysql://a@h/first');
  assert.equal(extractDefine(php, 'CIVICRM_LOGGING_DSN'), 'mysql://l@h/log');
  assert.equal(extractDefine(php, 'CIVICRM_UF_DSN'), 'mysql://u@h/cms\\x');
});

test('comments, strings holding code, functions and inline HTML do not count', () => {
  const php = `<html><?php
// define('CIVICRM_DSN', 'mysql://c@h/comment'); ?> <?php
/* define('CIVICRM_DSN', 'mysql://c@h/block'); */
$note = "define('CIVICRM_DSN', 'mysql://c@h/string')";
function later() { define('CIVICRM_LOGGING_DSN', 'mysql://f@h/fn'); }
# define('CIVICRM_DSN', 'mysql://c@h/hash');
define('CIVICRM_DSN', 'mysql://ok:it\\'s@h/real');
`;
  assert.equal(extractDefine(php, 'CIVICRM_DSN'), "mysql://ok:it's@h/real");
  assert.throws(() => extractDefine(php, 'CIVICRM_LOGGING_DSN'), configError(/defined only under the code of function later\(\), which runs only when called/));
});

test('refusals: interpolation, heredoc, variables, calls, an undefined constant; never the DSN text', () => {
  const cases: Array<[string, RegExp]> = [
    [`define('CIVICRM_DSN', "mysql://u:secret1@h/$db");`, /computed by PHP \("\.\.\."\)/],
    [`define('CIVICRM_DSN', <<<EOT\nmysql://u:secret1@h/db\nEOT\n);`, /computed by PHP/],
    [`$dsn = 'mysql://u:secret1@h/db'; define('CIVICRM_DSN', $dsn);`, /computed by PHP \(\$dsn\)/],
    [`define('CIVICRM_DSN', trim('mysql://u:secret1@h/db'));`, /computed by PHP \(trim\('\.\.\.'\)\)/],
    [`define('CIVICRM_DSN', SITE_DSN);`, /the constant SITE_DSN, which the settings file does not define before/],
    [`foreach ($sites as $s) { define('CIVICRM_DSN', 'mysql://u:secret1@h/db'); }`, /defined only under foreach \(\$sites as \$s\)/],
  ];
  for (const [code, pattern] of cases) {
    assert.throws(() => extractDefine(`<?php\n${code}\n`, 'CIVICRM_DSN'), configError(pattern, ['secret1']), code);
  }
});
