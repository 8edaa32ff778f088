import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickDelimiter, stripDefiner, stripTriggerOrder, storedObjectSql, preludeSql, postludeSql } from '../../ts-src/helper/db/dump-objects.js';
import { orderViews } from '../../ts-src/helper/db/introspect.js';
import { dataSkipReason, globToRegExp } from '../../ts-src/helper/db/dump-database.js';
import { safeName, statementLimit } from '../../ts-src/helper/db/dump-table.js';

test('DEFINER is removed from the head only, in every quoting style', () => {
  assert.equal(stripDefiner('CREATE DEFINER=`root`@`localhost` FUNCTION `f`() RETURNS int RETURN 1', 'FUNCTION'), 'CREATE FUNCTION `f`() RETURNS int RETURN 1');
  assert.equal(
    stripDefiner('CREATE ALGORITHM=UNDEFINED DEFINER=`we``ird`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1 AS `DEFINER=x`', 'VIEW'),
    'CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1 AS `DEFINER=x`',
  );
  assert.equal(stripDefiner('CREATE DEFINER="root"@"localhost" FUNCTION "f"() RETURNS int RETURN 1', 'FUNCTION'), 'CREATE FUNCTION "f"() RETURNS int RETURN 1');
  assert.equal(stripDefiner("CREATE DEFINER='a b'@'h' TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1", 'TRIGGER'), 'CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1');
  assert.equal(stripDefiner('CREATE DEFINER=`a_role` EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1', 'EVENT'), 'CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1');
  assert.equal(stripDefiner('CREATE DEFINER=CURRENT_USER PROCEDURE p() SELECT 1', 'PROCEDURE'), 'CREATE PROCEDURE p() SELECT 1');
  // a body mentioning DEFINER= is left alone
  assert.equal(stripDefiner("CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y`'", 'PROCEDURE'), "CREATE PROCEDURE p() SELECT 'DEFINER=`x`@`y`'");
});

test('FOLLOWS/PRECEDES are dropped from trigger statements', () => {
  assert.equal(
    stripTriggerOrder('CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW PRECEDES `b``c` SET NEW.x = 1'),
    'CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW SET NEW.x = 1',
  );
  assert.equal(stripTriggerOrder('CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW follows b BEGIN END'), 'CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW BEGIN END');
  assert.equal(stripTriggerOrder('CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW SET @follows = 1'), 'CREATE TRIGGER a BEFORE INSERT ON t FOR EACH ROW SET @follows = 1');
});

test('the DELIMITER never occurs in the object', () => {
  assert.equal(pickDelimiter('BEGIN SELECT 1; END'), ';;');
  assert.equal(pickDelimiter("BEGIN SELECT ';;'; END"), '$$');
  assert.equal(pickDelimiter("BEGIN SELECT ';; $$'; END"), '//');
  const sql = storedObjectSql('Procedure p', "CREATE PROCEDURE p() SELECT ';;'", { sqlMode: "ANSI_QUOTES,NO_ZERO_DATE", characterSetClient: 'utf8mb4', collationConnection: 'utf8mb4_general_ci' });
  assert.match(sql, /DELIMITER \$\$\nCREATE PROCEDURE p\(\) SELECT ';;' \$\$\nDELIMITER ;\n/);
  assert.match(sql, /SET sql_mode = 'ANSI_QUOTES,NO_ZERO_DATE';/);
  assert.match(sql, /SET character_set_client = @cb_saved_cs_client/);
});

test('views come after the views they read; name order otherwise', () => {
  const order = orderViews(
    new Map([
      ['a_top', 'CREATE VIEW `a_top` AS select `m`.`id` AS `id` from `m_mid` `m`'],
      ['m_mid', 'CREATE VIEW `m_mid` AS select `z_base`.`id` AS `id` from `z_base`'],
      ['z_base', 'CREATE VIEW `z_base` AS select `t`.`id` AS `id` from `t`'],
      ['b_alone', 'CREATE VIEW `b_alone` AS select 1 AS `x`'],
    ]),
  );
  assert.deepEqual(order, ['b_alone', 'z_base', 'm_mid', 'a_top']);
  // a false dependency cycle (aliases named like views) still yields every view once
  const cycle = orderViews(new Map([['p', 'CREATE VIEW `p` AS select 1 AS `q`'], ['q', 'CREATE VIEW `q` AS select 1 AS `p`']]));
  assert.deepEqual([...cycle].sort(), ['p', 'q']);
});

test('--exclude-data globs: * and ? wildcards, everything else literal (also _ and %)', () => {
  assert.ok(globToRegExp('civicrm_import_job_*').test('civicrm_import_job_12'));
  assert.ok(!globToRegExp('civicrm_import_job_*').test('civicrm_importjob'));
  assert.ok(globToRegExp('log_?').test('log_a'));
  assert.ok(!globToRegExp('log_?').test('log_ab'));
  assert.ok(!globToRegExp('a%').test('abc'));
  assert.ok(globToRegExp('a.b').test('a.b') && !globToRegExp('a.b').test('axb'));
  assert.match(dataSkipReason('civicrm_cache', [], true) ?? '', /cache/);
  assert.equal(dataSkipReason('civicrm_cache', [], false), undefined);
  assert.match(dataSkipReason('x_1', ['x_*'], true) ?? '', /--exclude-data x_\*/);
});

test('file-safe table names are unique and shell-safe', () => {
  assert.equal(safeName('civicrm_contact'), 'civicrm_contact');
  assert.equal(safeName('table with spaces'), 'table-20with-20spaces');
  assert.equal(safeName('a-b'), 'a-2Db');
  assert.equal(safeName('a`b'), 'a-60b');
  assert.equal(safeName('表'), '-E8-A1-A8');
  assert.notEqual(safeName('a b'), safeName('a-20b'));
});

test('statements stay far below the server packet limit', () => {
  assert.equal(statementLimit(16 * 1024 * 1024), 2 * 1024 * 1024);
  assert.equal(statementLimit(1024 * 1024), 512 * 1024);
  assert.equal(statementLimit(1024), 4096);
});

test('prelude and postlude: exactly the session settings of the format, nothing MariaDB-only', () => {
  const prelude = preludeSql('header');
  assert.match(prelude, /SET NAMES utf8mb4;/);
  assert.match(prelude, /FOREIGN_KEY_CHECKS=0/);
  assert.match(prelude, /TIME_ZONE='\+00:00'/);
  assert.ok(!/sandbox|CREATE DATABASE|\bUSE\b/.test(prelude + postludeSql()));
  assert.match(postludeSql(), /SET FOREIGN_KEY_CHECKS=@OLD_FK;/);
});
