<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.restore's PHP side: what it asks the helper for (argv without secrets, secrets in
 * the environment) for each choice the page offers: the database over the live site in
 * either scope (with the configured staging database), directories only, a new database for
 * inspection, and an encrypted set whose identity exists for this call only; and what it
 * refuses. A scripted FAKE node (Support/FakeNode.php) records its argv and environment;
 * FakeCiviSeam stands in for CiviCRM. The helper's own restore is tested in test/helper.
 */
final class RestoreTaskTest extends TestCase {

  private const IDENTITY = 'AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS7CPN8J';

  /**
   * @var string
   */
  private $dir;

  /**
   * @var string
   */
  private $dest;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_restore_');
    $this->dest = $this->dir . '/private/civibackup/sets';
    mkdir($this->dest, 0700, TRUE);
    $this->civi = new FakeCiviSeam($this->dir . '/private');
    $this->civi->directories['custom'] = $this->dir . '/custom/';
    $this->withSets([
      self::setRecord('s1', $this->dest, [['role' => 'main']], ['custom']),
      self::setRecord('s3', $this->dest, [], ['custom']),
    ]);
    $dir = $this->dir;
    $launcher = FakeNode::install($this->dir, <<<SH
case "\$2" in
  list) printf '{"v":1,"seq":1,"runId":"r","time":"2026-11-26T07:00:00Z","type":"result","command":"list","summary":{"sets":%s}}\n' "\$(cat '$dir/sets.json')" ;;
  backup) env > '$dir/backup.env'
          @start(1|,"command":"backup","toolVersion":"0")
          @result(2|,"command":"backup","set":"$this->dest/s2","summary":{}) ;;
  restore) echo "\$*" > '$dir/restore.args'
           env > '$dir/restore.env'
           @start(1|,"command":"restore","toolVersion":"0")
           @result(2|,"command":"restore","summary":{}) ;;
esac
SH);
    $this->service = new CRM_Civibackup_BackupService($this->civi, $this->dir . '/ext', $launcher);
  }

  protected function tearDown(): void {
    $this->useInApi(NULL);
    TempDir::remove($this->dir);
  }

  /**
   * Points the API4 actions (through CRM_Civibackup_ApiSupport::service()) at this test's
   * service; NULL: back to the default.
   */
  private function useInApi(?CRM_Civibackup_BackupService $service): void {
    $property = new ReflectionProperty(CRM_Civibackup_ApiSupport::class, 'service');
    $property->setAccessible(TRUE);
    $property->setValue(NULL, $service);
  }

  /**
   * A set as the helper lists it, holding databases of these roles and these directories.
   */
  private static function setRecord(string $setId, string $dest, array $databases, array $directories = []): array {
    return [
      'setId' => $setId,
      'location' => "$dest/$setId",
      'createdAt' => 'x',
      'finishedAt' => 'x',
      'verification' => ['state' => 'unverified'],
      'databases' => array_map(function (array $d): array {
        return $d + ['name' => 'civicrm', 'tables' => 1, 'rows' => 1];
      }, $databases),
      'directories' => array_map(function (string $label): array {
        return ['label' => $label, 'files' => 1, 'bytes' => 1];
      }, $directories),
    ];
  }

  /** What the fake helper's `list` answers from now on. */
  private function withSets(array $sets): void {
    file_put_contents($this->dir . '/sets.json', json_encode($sets, JSON_UNESCAPED_SLASHES));
  }

  private function helper(): string {
    return $this->dir . '/ext/dist/civibackup.mjs';
  }

  private function restoreArgs(): string {
    return trim((string) file_get_contents($this->dir . '/restore.args'));
  }

  /**
   * The restore step's environment variables named CIVIBACKUP_*.
   */
  private function restoreEnv(string $file = 'restore.env'): array {
    $env = [];
    foreach (file($this->dir . '/' . $file, FILE_IGNORE_NEW_LINES) ?: [] as $line) {
      [$name, $value] = array_pad(explode('=', $line, 2), 2, '');
      if (strpos($name, 'CIVIBACKUP_') === 0 && $name !== 'CIVIBACKUP_RUN_ID') {
        $env[$name] = $value;
      }
    }
    ksort($env);
    return $env;
  }

  private function runToTheEnd(array $run): array {
    return FakeNode::poll($this->service, $run['runId'], function (array $s): bool {
      return $s['done'];
    });
  }

  public function testTheDatabaseOverTheLiveSiteIsCiviCrmsTablesByDefaultAfterASafetyBackupThatUndoCanRestore(): void {
    $run = $this->service->restore('s1', TRUE, [], 's1', TRUE);
    $status = $this->runToTheEnd($run);
    $this->assertSame('result', end($status['events'])['type']);
    $this->assertSame($this->helper() . " restore $this->dest/s1 --force --scope civicrm --json", $this->restoreArgs());
    $this->assertSame([CRM_Civibackup_JobBuilder::ENV_DSN => $this->civi->dsn], $this->restoreEnv());
    $this->assertSame('s2', $status['safetySetId'], 'the safety backup is the set undo restores');
    $this->assertSame(1, $this->civi->flushes);
  }

  public function testEveryTableOfTheSetAndTheConfiguredWorkDatabases(): void {
    $this->civi->settings['civibackup_staging_database'] = 'civicrm_stage';
    $this->runToTheEnd($this->service->restore('s1', TRUE, ['custom'], 's1', TRUE, 'page', '', ['scope' => 'all']));
    $this->assertSame($this->helper() . " restore $this->dest/s1 --force --scope all --staging-db civicrm_stage --files custom=$this->dir/custom --json", $this->restoreArgs());
    $this->civi->settings['civibackup_old_database'] = 'civicrm_old';
    $this->runToTheEnd($this->service->restore('s1', TRUE, [], 's1', TRUE));
    $this->assertSame($this->helper() . " restore $this->dest/s1 --force --scope civicrm --staging-db civicrm_stage --old-db civicrm_old --json", $this->restoreArgs());
    $this->civi->settings['civibackup_old_database'] = '';

    // With a separate logging database in the set and on the site, one name cannot serve both.
    $this->civi->loggingDsn = 'mysql://civi:secret@127.0.0.1:3306/civicrm_log';
    $this->withSets([self::setRecord('s4', $this->dest, [['role' => 'main'], ['role' => 'logging']])]);
    try {
      $this->service->restore('s4', TRUE, [], 's4', TRUE);
      $this->fail('one staging name for two databases');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('CONFIG', $e->getErrorCode());
      $this->assertStringContainsString('civibackup_staging_database and civibackup_old_database', $e->getHint());
    }
    $this->civi->loggingDsn = NULL;
    $this->withSets([self::setRecord('s1', $this->dest, [['role' => 'main']], ['custom'])]);

    $this->civi->settings['civibackup_old_database'] = 'civicrm_stage';
    foreach (['civicrm', 'bad name', 'civicrm_stage'] as $refused) {
      $this->civi->settings['civibackup_staging_database'] = $refused;
      try {
        $this->service->restore('s1', TRUE, [], 's1', TRUE);
        $this->fail("\"$refused\" accepted as the staging database");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('CONFIG', $e->getErrorCode());
      }
    }
  }

  public function testDirectoriesAloneGetNoDatabaseNoScopeAndNoFlush(): void {
    $status = $this->runToTheEnd($this->service->restore('s1', FALSE, ['custom'], 's1', TRUE));
    $this->assertSame($this->helper() . " restore $this->dest/s1 --force --files custom=$this->dir/custom --json", $this->restoreArgs());
    $this->assertSame([], $this->restoreEnv(), 'no DSN: the helper leaves the database alone');
    $this->assertSame('s2', $status['safetySetId']);
    $this->assertSame(0, $this->civi->flushes);
  }

  public function testANewDatabaseForInspectionTouchesNothingLive(): void {
    $status = $this->runToTheEnd($this->service->restore('s1', FALSE, [], 's1', TRUE, 'page', '', ['newDatabase' => 'civicrm_copy']));
    $this->assertSame($this->helper() . " restore $this->dest/s1 --json", $this->restoreArgs(), 'no --force: the helper refuses a database that is not empty');
    $this->assertSame([CRM_Civibackup_JobBuilder::ENV_DSN => 'mysql://civi:secret@127.0.0.1:3306/civicrm_copy?new_link=true'], $this->restoreEnv());
    $this->assertFileDoesNotExist($this->dir . '/backup.env', 'no safety backup');
    $this->assertSame(['start', 'result'], array_column($status['events'], 'type'));
    $this->assertArrayNotHasKey('safetySetId', $status);
    $this->assertSame(0, $this->civi->flushes);

    $this->civi->loggingDsn = 'mysql://civi:secret@127.0.0.1:3306/civicrm_log';
    $this->civi->settings['civibackup_staging_database'] = 'civicrm_stage';
    $this->civi->settings['civibackup_old_database'] = 'civicrm_old';
    foreach (['civicrm', 'civicrm_log', 'civicrm_cbscratch', 'civicrm_stage', 'civicrm_old', 'bad name', 'x`; DROP'] as $refused) {
      try {
        $this->service->restore('s1', FALSE, [], 's1', TRUE, 'page', '', ['newDatabase' => $refused]);
        $this->fail("\"$refused\" accepted as the new database");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('USAGE', $e->getErrorCode(), $refused);
      }
    }
  }

  public function testAnEncryptedSetRunsAttachedUnderTheRunIdThePageChoseAndItsIdentityIsNeverWritten(): void {
    $runId = CRM_Civibackup_RunStore::newRunId();
    $run = $this->service->restore('s1', TRUE, ['custom'], 's1', TRUE, 'page', self::IDENTITY, ['runId' => $runId]);
    $this->assertSame($runId, $run['runId']);
    $this->assertSame('result', $run['result']['type'], 'attached: the request waited for the end');
    $this->assertSame(self::IDENTITY, $this->restoreEnv()[CRM_Civibackup_JobBuilder::ENV_IDENTITY]);
    $this->assertArrayNotHasKey(CRM_Civibackup_JobBuilder::ENV_IDENTITY, $this->restoreEnv('backup.env'), 'the safety backup does not need it');
    $this->assertStringNotContainsString('AGE-SECRET-KEY', $this->restoreArgs());
    $runDir = $this->service->runs()->dir($runId);
    foreach (scandir($runDir) as $name) {
      if (is_file("$runDir/$name")) {
        $this->assertStringNotContainsString('AGE-SECRET-KEY', (string) file_get_contents("$runDir/$name"), $name);
      }
    }
    $this->assertSame('s2', $this->service->status($runId)['safetySetId']);

    foreach ([$runId, 'not-a-run-id'] as $taken) {
      try {
        $this->service->restore('s1', TRUE, [], 's1', TRUE, 'page', '', ['runId' => $taken]);
        $this->fail("run id $taken reused");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('USAGE', $e->getErrorCode());
      }
    }
  }

  public function testTheApiActionPassesEveryChoiceAndDefaultsToCiviCrmsTables(): void {
    require_once __DIR__ . '/Fake/Api4StandIns.php';
    $this->useInApi($this->service);
    $run = (array) \Civi\Api4\Backup::restore(FALSE)->setSetId('s1')->setDatabase(TRUE)->setConfirm('s1')->setAsync(TRUE)->execute();
    $this->runToTheEnd($run[0]);
    $this->assertStringContainsString(' --force --scope civicrm --json', $this->restoreArgs());

    $runId = CRM_Civibackup_RunStore::newRunId();
    $run = (array) \Civi\Api4\Backup::restore(FALSE)->setSetId('s1')->setDatabase(TRUE)->setScope('all')->setDirectories(['custom'])->setConfirm('s1')->setAsync(TRUE)->setRunId($runId)->execute();
    $this->assertSame($runId, $run[0]['runId']);
    $this->runToTheEnd($run[0]);
    $this->assertStringContainsString(' --force --scope all --files custom=', $this->restoreArgs());

    $run = (array) \Civi\Api4\Backup::restore(FALSE)->setSetId('s1')->setNewDatabase('civicrm_copy')->setConfirm('s1')->setAsync(TRUE)->execute();
    $this->runToTheEnd($run[0]);
    $this->assertSame($this->helper() . " restore $this->dest/s1 --json", $this->restoreArgs());

    try {
      \Civi\Api4\Backup::restore(FALSE)->setSetId('s1')->setDatabase(TRUE)->setScope('wp')->setConfirm('s1')->execute();
      $this->fail('an unknown scope was accepted');
    }
    catch (CRM_Core_Exception $e) {
      $this->assertSame('USAGE', $e->getErrorCode());
    }
  }

  public function testWhatIsRefusedBeforeAnythingRuns(): void {
    $cases = [
      'typed confirmation differs' => ['s1', TRUE, [], 's2', []],
      'unknown scope' => ['s1', TRUE, [], 's1', ['scope' => 'everything']],
      'nothing chosen' => ['s1', FALSE, [], 's1', []],
      'a new database and directories' => ['s1', FALSE, ['custom'], 's1', ['newDatabase' => 'civicrm_copy']],
      'a new database and the live one' => ['s1', TRUE, [], 's1', ['newDatabase' => 'civicrm_copy']],
      'a directory the set does not hold' => ['s1', FALSE, ['images'], 's1', []],
      'a set without a database' => ['s3', TRUE, [], 's3', []],
      'a new database from a set without one' => ['s3', FALSE, [], 's3', ['newDatabase' => 'civicrm_copy']],
    ];
    foreach ($cases as $case => [$setId, $database, $directories, $confirm, $options]) {
      try {
        $this->service->restore($setId, $database, $directories, $confirm, TRUE, 'page', '', $options);
        $this->fail("$case: accepted");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('USAGE', $e->getErrorCode(), $case);
      }
    }
    $this->assertSame([], $this->service->runs()->list(), 'no run was started');
    $this->assertFileDoesNotExist($this->dir . '/backup.env');
  }

}
