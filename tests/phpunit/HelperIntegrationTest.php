<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The PHP side end to end: CRM_Civibackup_BackupService and the Launcher run the REAL built
 * helper (`node dist/civibackup.mjs`) against the real MariaDB at 127.0.0.1:3306, attached
 * and detached, and read its events back. Only CiviCRM itself is replaced, by the
 * FakeCiviSeam stand-in (settings in memory, paths in a temp dir, mail recorded).
 *
 * The database user has a password full of URL-special characters, so the DSN travels
 * PHP -> environment -> helper exactly as CiviCRM writes it; the test checks that the
 * password appears in no file the run leaves behind.
 */
final class HelperIntegrationTest extends TestCase {

  private const PASSWORD = 'p@ss:w/rd?%# x';

  /**
   * @var string
   */
  private static $db;

  /**
   * @var string
   */
  private static $user;

  /**
   * @var mysqli
   */
  private static $mysql;

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  public static function setUpBeforeClass(): void {
    HelperBundle::ensureBuilt();
    mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
    self::$mysql = new mysqli('127.0.0.1', 'root', '', '', 3306);
    $suffix = bin2hex(random_bytes(4));
    self::$db = 'cbt_php_' . $suffix;
    self::$user = 'cbt_php_' . $suffix;
    $m = self::$mysql;
    $m->query('CREATE DATABASE `' . self::$db . '` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
    $m->query("CREATE USER '" . self::$user . "'@'%' IDENTIFIED BY '" . $m->real_escape_string(self::PASSWORD) . "'");
    // The scratch database of a deep verify is <db>_cbscratch on the same server; a restore
    // over the live database loads into <db>_cbstage and moves the replaced tables to <db>_cbold.
    // Backup.restore's newDatabase: <db>_copy.
    foreach ([self::$db, self::$db . '\_cbscratch', self::$db . '\_cbstage', self::$db . '\_cbold', self::$db . '\_copy'] as $database) {
      $m->query('GRANT ALL PRIVILEGES ON `' . $database . "`.* TO '" . self::$user . "'@'%'");
    }
    $m->select_db(self::$db);
    $m->query('CREATE TABLE civicrm_contact (id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY, display_name VARCHAR(128), created DATETIME(6)) ENGINE=InnoDB');
    $m->query("INSERT INTO civicrm_contact (display_name, created) VALUES ('Ada Lovelace', '2026-01-01 10:00:00.123456'), ('Grace Hopper', NULL), ('Zoë ☃', '1999-12-31 23:59:59.999999')");
    $m->query('CREATE TABLE civicrm_cache (id INT PRIMARY KEY, data LONGTEXT) ENGINE=InnoDB');
    $m->query("INSERT INTO civicrm_cache VALUES (1, 'cached data that need not be backed up')");
  }

  public static function tearDownAfterClass(): void {
    if (self::$mysql) {
      self::$mysql->query('DROP DATABASE IF EXISTS `' . self::$db . '`');
      foreach (['_cbscratch', '_cbstage', '_cbold', '_copy'] as $work) {
        self::$mysql->query('DROP DATABASE IF EXISTS `' . self::$db . $work . '`');
      }
      self::$mysql->query("DROP USER IF EXISTS '" . self::$user . "'@'%'");
      self::$mysql->close();
    }
  }

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_integration_');
    mkdir($this->dir . '/private', 0700);
    mkdir($this->dir . '/custom', 0700);
    file_put_contents($this->dir . '/custom/letter.txt', "Dear Ada,\n");
    $this->civi = new FakeCiviSeam($this->dir . '/private');
    $this->civi->dsn = self::dsn();
    $this->civi->directories['custom'] = $this->dir . '/custom/';
    $this->civi->settings['civibackup_alert_emails'] = ['admin@example.org'];
    $this->service = new CRM_Civibackup_BackupService($this->civi, dirname(__DIR__, 2));
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private static function dsn(string $password = self::PASSWORD): string {
    return 'mysql://' . rawurlencode(self::$user) . ':' . rawurlencode($password) . '@127.0.0.1:3306/' . self::$db . '?new_link=true';
  }

  private function contactName(int $id): ?string {
    $row = self::$mysql->query('SELECT display_name FROM `' . self::$db . "`.civicrm_contact WHERE id = $id")->fetch_row();
    return $row[0] ?? NULL;
  }

  /**
   * Polls Backup.status the way the page does until the run is done; returns all events.
   */
  private function pollUntilDone(string $runId): array {
    $events = [];
    $since = 0;
    $deadline = time() + 300;
    do {
      $status = $this->service->status($runId, $since);
      foreach ($status['events'] as $event) {
        $events[] = $event;
        $since = $event['seq'];
      }
      if ($status['done']) {
        $this->assertFalse($status['running']);
        return $events;
      }
      $this->assertLessThan($deadline, time(), "run $runId did not finish in 300 s");
      usleep(100000);
    } while (TRUE);
  }

  private function assertNoPasswordLeft(string $runId): void {
    $dir = $this->service->runs()->dir($runId);
    foreach (scandir($dir) as $name) {
      if (is_file("$dir/$name")) {
        $text = (string) file_get_contents("$dir/$name");
        $this->assertStringNotContainsString(self::PASSWORD, $text, "$name holds the password");
        $this->assertStringNotContainsString(rawurlencode(self::PASSWORD), $text, "$name holds the encoded password");
      }
    }
  }

  public function testAttachedBackupWritesASetAndRecordsTheRun(): void {
    $run = $this->service->runBackup(FALSE, 'cron');
    $final = $run['result'];
    $this->assertSame('result', $final['type'], json_encode($final));
    $this->assertSame('backup', $final['command']);
    $this->assertSame($run['runId'], $final['runId'], 'the helper uses the run id PHP chose');
    $this->assertDirectoryExists($final['set']);
    // A deduplicated set: sets/<id> in the repository at the destination ([civicrm.private]/civibackup/sets).
    $this->assertSame($this->dir . '/private/civibackup/sets/sets', dirname($final['set']));

    $events = $this->service->runs()->events($run['runId'])->readAll();
    $this->assertSame('start', $events[0]['type']);
    $this->assertSame(range(1, count($events)), array_column($events, 'seq'));
    $this->assertSame('600', substr(sprintf('%o', fileperms($this->service->runs()->jobFile($run['runId']))), -3));
    $job = json_decode((string) file_get_contents($this->service->runs()->jobFile($run['runId'])), TRUE);
    $this->assertSame('CIVIBACKUP_DSN', $job['database']['dsnEnv']);
    $this->assertNoPasswordLeft($run['runId']);

    $this->assertFileExists($this->dir . '/private/civibackup/sets/.htaccess', 'deny-all .htaccess beside the sets');
    $sets = $this->service->listSets();
    $this->assertCount(1, $sets);
    $this->assertSame(basename($final['set']), $sets[0]['setId']);
    $this->assertSame(self::$db, $sets[0]['databases'][0]['name']);
    $this->assertSame(3, $sets[0]['databases'][0]['rows'], 'civicrm_cache rows are skipped');
    $this->assertSame([['label' => 'custom', 'files' => 1, 'bytes' => 10]], $sets[0]['directories']);

    $lastRun = $this->civi->settings['civibackup_last_run'];
    $this->assertSame('success', $lastRun['status']);
    $this->assertSame($run['runId'], $lastRun['runId']);
    $status = $this->service->status($run['runId'], 0);
    $this->assertTrue($status['done']);
    $this->assertNull($this->service->lock()->heldBy());
  }

  public function testTwoCopiesWithTheSameHostAndDatabaseKeepTheirOwnSetsByTheirSourceNames(): void {
    // A cloned server: same host name, same database, same destination; only the source name differs.
    $this->civi->settings = ['civibackup_keep_last' => 1, 'civibackup_keep_daily' => 0, 'civibackup_keep_weekly' => 0, 'civibackup_keep_monthly' => 0] + $this->civi->settings;
    $backup = function (string $sourceId): string {
      $this->assertSame([], (new CRM_Civibackup_Config($this->civi))->save(['sourceId' => $sourceId]));
      $run = $this->service->runBackup(FALSE, 'cron');
      $this->assertSame('result', $run['result']['type'], json_encode($run['result']));
      $job = json_decode((string) file_get_contents($this->service->runs()->jobFile($run['runId'])), TRUE);
      $this->assertSame($sourceId, $job['sourceId']);
      $manifest = json_decode((string) file_get_contents($run['result']['set'] . '/manifest.json'), TRUE);
      $this->assertSame($sourceId, $manifest['source']['id']);
      return basename($run['result']['set']);
    };
    $a1 = $backup('copy-a');
    $b1 = $backup('copy-b');
    $a2 = $backup('copy-a');
    $sets = $this->service->listSets();
    $bySet = array_column($sets, 'source', 'setId');
    ksort($bySet);
    $expected = [$b1 => 'copy-b', $a2 => 'copy-a'];
    ksort($expected);
    $this->assertSame($expected, $bySet, "copy-a's keep-last 1 removed its own older set $a1 and left copy-b's alone");
  }

  public function testDetachedBackupIsReadBackThroughStatus(): void {
    $run = $this->service->runBackup(TRUE, 'page');
    $this->assertSame(['runId'], array_keys($run), 'the page gets the run id at once');
    $events = $this->pollUntilDone($run['runId']);
    $this->assertSame('start', $events[0]['type']);
    $this->assertSame(range(1, count($events)), array_column($events, 'seq'), 'no event lost or repeated across polls');
    $this->assertContains('phase', array_column($events, 'type'));
    $last = end($events);
    $this->assertSame('result', $last['type'], json_encode($last));
    $this->assertDirectoryExists($last['set']);
    $this->assertNull($this->service->lock()->heldBy(), 'the lock went with the helper');
    $this->assertSame('success', $this->civi->settings['civibackup_last_run']['status']);
    $this->assertNoPasswordLeft($run['runId']);
    $meta = $this->service->runs()->meta($run['runId']);
    $this->assertGreaterThan(0, $meta['pid']);
    $this->assertFalse(CRM_Civibackup_Launcher::isAlive((int) $meta['pid']));
  }

  public function testKeygenAndListThroughTheLauncher(): void {
    $launcher = $this->service->launcher();
    $this->assertMatchesRegularExpression('/^v\d+\./', $launcher->checkNode());
    $identity = $this->dir . '/identity.txt';
    $final = $launcher->runAttached(['keygen', '--out', $identity]);
    $this->assertSame('result', $final['type'], json_encode($final));
    $this->assertMatchesRegularExpression(CRM_Civibackup_JobBuilder::RECIPIENT_PATTERN, $final['summary']['recipient']);
    $this->assertSame('600', substr(sprintf('%o', fileperms($identity)), -3));

    mkdir($this->dir . '/empty');
    $list = $launcher->runAttached(['list', $this->dir . '/empty']);
    $this->assertSame('result', $list['type']);
    $this->assertSame([], $list['summary']['sets']);

    $usage = $launcher->runAttached(['no-such-verb']);
    $this->assertSame('error', $usage['type']);
    $this->assertSame('USAGE', $usage['code']);
  }

  public function testEncryptedBackupNeedsTheIdentityToVerifyDeeply(): void {
    $identity = $this->dir . '/identity.txt';
    $key = $this->service->launcher()->runAttached(['keygen', '--out', $identity]);
    $this->assertSame('result', $key['type'], json_encode($key));
    $this->civi->settings['civibackup_recipients'] = [$key['summary']['recipient']];
    $run = $this->service->runBackup(FALSE, 'cron');
    $this->assertSame('result', $run['result']['type'], json_encode($run['result']));
    $setId = basename($run['result']['set']);
    $this->assertTrue($this->service->listSets()[0]['encrypted']);

    $without = $this->service->verify($setId, TRUE, FALSE);
    $this->assertSame('error', $without['result']['type']);
    $this->assertSame('WRONG_KEY', $without['result']['code']);

    $secretKey = trim((string) preg_replace('/^#.*$/m', '', (string) file_get_contents($identity)));
    $with = $this->service->verify($setId, TRUE, FALSE, 'api', $secretKey);
    $this->assertSame('result', $with['result']['type'], json_encode($with['result']));
    $this->assertSame('restorable', $this->service->listSets()[0]['verification']['state']);
    foreach (scandir($this->service->runs()->dir($with['runId'])) as $name) {
      if (is_file($this->service->runs()->dir($with['runId']) . "/$name")) {
        $this->assertStringNotContainsString($secretKey, (string) file_get_contents($this->service->runs()->dir($with['runId']) . "/$name"));
      }
    }
  }

  public function testFailedRunIsRecordedAndAlertedByMail(): void {
    $this->civi->dsn = self::dsn('wrong-password');
    $run = $this->service->runBackup(FALSE, 'cron');
    $final = $run['result'];
    $this->assertSame('error', $final['type']);
    $this->assertSame('DB_CONNECT', $final['code'], json_encode($final));
    $this->assertSame('failed', $this->civi->settings['civibackup_last_run']['status']);
    $this->assertSame('DB_CONNECT', $this->civi->settings['civibackup_last_run']['code']);
    $this->assertCount(1, $this->civi->mails);
    $mail = $this->civi->mails[0];
    $this->assertSame(['admin@example.org'], $mail['to']);
    $this->assertStringContainsString('DB_CONNECT', $mail['subject']);
    $this->assertStringContainsString($run['runId'], $mail['text']);
    $this->assertStringNotContainsString('wrong-password', $mail['text']);
    // Reading the status again does not send a second mail.
    $this->service->status($run['runId'], 0);
    $this->service->reconcile();
    $this->assertCount(1, $this->civi->mails);
  }

  public function testDeepVerifyRestoreWithSafetyBackupAndDelete(): void {
    $first = $this->service->runBackup(FALSE, 'cron')['result'];
    $this->assertSame('result', $first['type'], json_encode($first));
    $setId = basename($first['set']);

    $verify = $this->service->verify($setId, TRUE, FALSE);
    $this->assertSame('result', $verify['result']['type'], json_encode($verify['result']));
    $this->assertSame('restorable', $this->service->listSets()[0]['verification']['state']);
    $this->assertNull(self::$mysql->query("SHOW DATABASES LIKE '" . self::$db . "\\_cbscratch'")->fetch_row(), 'the scratch database is gone');

    self::$mysql->query('UPDATE `' . self::$db . "`.civicrm_contact SET display_name = 'Changed after the backup' WHERE id = 1");
    file_put_contents($this->dir . '/custom/letter.txt', "overwritten\n");
    try {
      $this->service->restore($setId, TRUE, ['custom'], 'not-the-set-id', FALSE);
      $this->fail('restore without the typed confirmation');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('USAGE', $e->getErrorCode());
    }
    $this->assertSame('Changed after the backup', $this->contactName(1));

    $restore = $this->service->restore($setId, TRUE, ['custom'], $setId, FALSE);
    $this->assertSame('result', $restore['result']['type'], json_encode($restore['result']));
    $this->assertSame('restore', $restore['result']['command']);
    $this->assertSame('Ada Lovelace', $this->contactName(1));
    $this->assertSame("Dear Ada,\n", file_get_contents($this->dir . '/custom/letter.txt'));
    $this->assertSame(1, $this->civi->flushes, 'triggers rebuilt and caches cleared after the database restore');
    $this->assertNoPasswordLeft($restore['runId']);

    // The safety backup holds the state just before the restore.
    $sets = $this->service->listSets();
    $this->assertCount(2, $sets);
    $safety = $sets[0]['setId'];
    $this->assertNotSame($setId, $safety);

    try {
      $this->service->delete($safety);
      $this->fail('the newest set was deleted');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertStringContainsString('newest', $e->getMessage());
    }
    $this->assertSame(['setId' => $setId, 'deleted' => TRUE], $this->service->delete($setId));
    $this->assertSame([$safety], array_column($this->service->listSets(), 'setId'));
  }

  /**
   * The cron job's run and then the page's: each set's changes in CiviCRM's code are kept in
   * the site's private files (not at the destination), served per set, and go with the set.
   */
  public function testEachBackupKeepsItsCodeChangesPrivatelyAndServesThemPerSet(): void {
    $code = $this->dir . '/civicrm';
    mkdir($code . '/CRM/Core', 0700, TRUE);
    file_put_contents($code . '/CRM/Core/Config.php', "<?php // core\n");
    file_put_contents($code . '/CRM/Core/Removed.php', "<?php // removed later\n");
    $this->civi->directories['code'] = $code;
    $first = $this->service->runBackup(FALSE, 'cron')['result'];
    $this->assertSame('result', $first['type'], json_encode($first));
    $firstId = basename($first['set']);
    $this->assertSame(['setId' => $firstId, 'recorded' => TRUE, 'changes' => [
      'label' => 'code',
      'compared' => FALSE,
      'counts' => ['added' => 0, 'modified' => 0, 'removed' => 0],
      'paths' => [],
      'omitted' => 0,
      'civicrmVersion' => '6.17.0',
      'reason' => 'no-previous-set',
    ]], $this->service->codeChanges($firstId));

    file_put_contents($code . '/CRM/Core/Config.php', "<?php // core, patched by hand\n");
    unlink($code . '/CRM/Core/Removed.php');
    file_put_contents($code . '/CRM/Core/Added.php', "<?php // new\n");
    $this->civi->civicrmVersion = '6.18.0';
    $run = $this->service->runBackup(TRUE, 'page');
    $events = $this->pollUntilDone($run['runId']);
    $last = end($events);
    $this->assertSame('result', $last['type'], json_encode($last));
    $secondId = basename($last['set']);
    $changes = $this->service->codeChanges($secondId)['changes'];
    $this->assertTrue($changes['compared']);
    $this->assertSame(['setId' => $firstId, 'civicrmVersion' => '6.17.0'], $changes['previous']);
    $this->assertSame('6.18.0', $changes['civicrmVersion']);
    $this->assertSame([
      ['path' => 'CRM/Core/Added.php', 'change' => 'added'],
      ['path' => 'CRM/Core/Config.php', 'change' => 'modified'],
      ['path' => 'CRM/Core/Removed.php', 'change' => 'removed'],
    ], $changes['paths']);
    $this->assertSame(['added' => 1, 'modified' => 1, 'removed' => 1], $changes['counts']);

    $record = $this->dir . '/private/civibackup/changes/' . $secondId . '.json';
    $this->assertFileExists($record);
    $this->assertSame('600', substr(sprintf('%o', fileperms($record)), -3));
    // The destination names no file of the code (its manifests are in clear).
    foreach (glob($this->dir . '/private/civibackup/sets/sets/*/manifest.json') as $manifest) {
      $this->assertStringNotContainsString('Config.php', (string) file_get_contents($manifest));
    }

    $this->assertSame(['setId' => $firstId, 'deleted' => TRUE], $this->service->delete($firstId));
    $this->assertSame(['setId' => $firstId, 'recorded' => FALSE, 'changes' => NULL], $this->service->codeChanges($firstId));
    $this->assertTrue($this->service->codeChanges($secondId)['recorded']);
  }

  public function testAsyncRestoreIsAdvancedByStatusPolls(): void {
    $first = $this->service->runBackup(FALSE, 'cron')['result'];
    $this->assertSame('result', $first['type'], json_encode($first));
    $setId = basename($first['set']);
    self::$mysql->query('UPDATE `' . self::$db . "`.civicrm_contact SET display_name = 'Changed again' WHERE id = 2");

    $run = $this->service->restore($setId, TRUE, [], $setId, TRUE);
    $events = $this->pollUntilDone($run['runId']);
    $this->assertSame(range(1, count($events)), array_column($events, 'seq'));
    $starts = array_values(array_filter($events, function (array $e): bool {
      return $e['type'] === 'start';
    }));
    $this->assertSame(['backup', 'restore'], array_column($starts, 'command'), 'safety backup first, then the restore');
    $this->assertCount(1, array_filter($events, function (array $e): bool {
      return $e['type'] === 'result';
    }), 'only the last step reports a result');
    $last = end($events);
    $this->assertSame('result', $last['type'], json_encode($last));
    $this->assertSame('restore', $last['command']);
    $this->assertSame('Grace Hopper', $this->contactName(2));
    $this->assertSame(1, $this->civi->flushes);
  }


  private function wpUserName(string $database): ?string {
    $row = self::$mysql->query("SELECT user_login FROM `$database`.wp_users WHERE ID = 1")->fetch_row();
    return $row[0] ?? NULL;
  }

  /**
   * What the page does on a database CiviCRM shares with WordPress: CiviCRM's tables only,
   * then undo (the safety set, same scope), then a copy into a new database; each through the
   * real helper, followed by status polls as the page follows them.
   */
  public function testThePagesRestoreKeepsTheCmsTablesUndoesAndCopiesIntoANewDatabase(): void {
    $db = self::$db;
    self::$mysql->query("CREATE TABLE `$db`.wp_users (ID BIGINT UNSIGNED PRIMARY KEY, user_login VARCHAR(60)) ENGINE=InnoDB");
    try {
      self::$mysql->query("INSERT INTO `$db`.wp_users VALUES (1, 'admin')");
      self::$mysql->query("UPDATE `$db`.civicrm_contact SET display_name = 'Ada Lovelace' WHERE id = 1");
      $first = $this->service->runBackup(FALSE, 'cron')['result'];
      $this->assertSame('result', $first['type'], json_encode($first));
      $setId = basename($first['set']);
      $listed = $this->service->findSet($setId);
      $this->assertSame(1, $listed['databases'][0]['otherTables'], 'the page offers the scope for this set');
      $this->assertTrue($listed['thisSite']);

      self::$mysql->query("UPDATE `$db`.civicrm_contact SET display_name = 'Changed in CiviCRM' WHERE id = 1");
      self::$mysql->query("UPDATE `$db`.wp_users SET user_login = 'renamed-in-wordpress' WHERE ID = 1");
      $run = $this->service->restore($setId, TRUE, [], $setId, TRUE, 'page', '', ['scope' => 'civicrm', 'runId' => CRM_Civibackup_RunStore::newRunId()]);
      $events = $this->pollUntilDone($run['runId']);
      $this->assertSame('result', end($events)['type'], json_encode(end($events)));
      $this->assertSame('Ada Lovelace', $this->contactName(1));
      $this->assertSame('renamed-in-wordpress', $this->wpUserName($db), 'WordPress\'s table is left as it was');
      $safety = $this->service->status($run['runId'])['safetySetId'];
      $this->assertSame('safety-before-restore', $this->service->findSet($safety)['trigger']);

      // Undo, as the page does it: the safety set over the same parts.
      $undo = $this->service->restore($safety, TRUE, [], $safety, TRUE, 'page', '', ['scope' => 'civicrm']);
      $undoEvents = $this->pollUntilDone($undo['runId']);
      $this->assertSame('result', end($undoEvents)['type'], json_encode(end($undoEvents)));
      $this->assertSame('Changed in CiviCRM', $this->contactName(1));
      $this->assertSame('renamed-in-wordpress', $this->wpUserName($db));

      // A copy for inspection: every table of the set, nothing live touched.
      $copy = $this->service->restore($setId, FALSE, [], $setId, FALSE, 'api', '', ['newDatabase' => $db . '_copy']);
      $this->assertSame('result', $copy['result']['type'], json_encode($copy['result']));
      $row = self::$mysql->query("SELECT display_name FROM `{$db}_copy`.civicrm_contact WHERE id = 1")->fetch_row();
      $this->assertSame('Ada Lovelace', $row[0]);
      $this->assertSame('admin', $this->wpUserName($db . '_copy'));
      $this->assertSame('Changed in CiviCRM', $this->contactName(1));
      $this->assertNoPasswordLeft($copy['runId']);
    }
    finally {
      self::$mysql->query("DROP TABLE IF EXISTS `$db`.wp_users");
      self::$mysql->query("DROP DATABASE IF EXISTS `{$db}_copy`");
    }
  }

}