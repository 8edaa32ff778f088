<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * A backup run's code changes (the helper's summary.codeChanges) are kept per set in the site's
 * private files and served by Backup.codeChanges: only the contract's fields, at most 500
 * paths, set ids checked before they touch a path, records of sets retention removed dropped,
 * and a record that cannot be written never fails the run. A scripted fake `node` plays the
 * helper (HelperIntegrationTest runs the real one); FakeCiviSeam stands in for CiviCRM.
 */
final class CodeChangesTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_codechanges_');
    mkdir($this->dir . '/private');
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  /**
   * A fake helper whose backup ends with this result summary.
   */
  private function helperReporting(string $setId, array $summary): void {
    $result = ['v' => 1, 'seq' => 2, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'result', 'command' => 'backup', 'set' => "/backups/sets/$setId", 'summary' => ['setId' => $setId] + $summary];
    $start = ['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'start', 'command' => 'backup', 'toolVersion' => '0'];
    file_put_contents($this->dir . '/events.ndjson', json_encode($start) . "\n" . json_encode($result, JSON_UNESCAPED_SLASHES) . "\n");
    $civi = new FakeCiviSeam($this->dir . '/private');
    $civi->directories['custom'] = $this->dir . '/custom/';
    $this->service = new CRM_Civibackup_BackupService($civi, $this->dir . '/ext', FakeNode::install($this->dir, 'cat ' . escapeshellarg($this->dir . '/events.ndjson') . "\n"));
  }

  private static function changes(int $paths): array {
    $list = [];
    for ($i = 0; $i < $paths; $i++) {
      $list[] = ['path' => sprintf('vendor/f%04d.php', $i), 'change' => 'modified'];
    }
    return [
      'label' => 'code',
      'civicrmVersion' => '6.18.0',
      'compared' => TRUE,
      'previous' => ['setId' => '20261125T020000Z-aaaaaa', 'civicrmVersion' => '6.17.2'],
      'counts' => ['added' => 0, 'modified' => $paths, 'removed' => 0],
      'paths' => $list,
      'omitted' => 0,
    ];
  }

  public function testTheCronRunKeepsTheChangesOfItsSetAndRetentionTakesTheRemovedSetsChangesAlong(): void {
    $old = '20261120T020000Z-bbbbbb';
    $this->helperReporting($old, ['codeChanges' => self::changes(1)]);
    $this->assertSame('result', $this->service->runBackup(FALSE, 'cron')['result']['type']);
    $this->assertTrue($this->service->codeChanges($old)['recorded']);

    $setId = '20261126T020000Z-cccccc';
    $hostile = self::changes(700);
    $hostile['paths'][1] = ['path' => 'x', 'change' => 'exploded'];
    $hostile['paths'][2] = ['path' => ['not a string'], 'change' => 'added'];
    $hostile['previous']['setId'] = '../../etc/passwd';
    $hostile['extra'] = '<script>';
    $this->helperReporting($setId, ['codeChanges' => $hostile, 'retention' => ['removed' => [$old, '../../outside', "x\n"], 'kept' => 1]]);
    file_put_contents($this->dir . '/outside.json', 'must stay');
    $this->assertSame('result', $this->service->runBackup(FALSE, 'cron')['result']['type']);

    $record = $this->service->codeChanges($setId);
    $this->assertTrue($record['recorded']);
    $changes = $record['changes'];
    $this->assertSame(['label', 'compared', 'counts', 'paths', 'omitted', 'civicrmVersion'], array_keys($changes), 'only the contract\'s fields; a previous set id that is not one is dropped');
    $this->assertCount(500, $changes['paths']);
    $this->assertSame('vendor/f0003.php', $changes['paths'][1]['path'], 'malformed entries are skipped');
    $this->assertSame(200, $changes['omitted'], 'counted but not listed');
    $this->assertSame('600', substr(sprintf('%o', fileperms($this->dir . "/private/civibackup/changes/$setId.json")), -3));

    $this->assertSame(['setId' => $old, 'recorded' => FALSE, 'changes' => NULL], $this->service->codeChanges($old), 'its set was removed by retention');
    $this->assertFileExists($this->dir . '/outside.json');
  }

  public function testAPageRunKeepsItsChangesWhenItIsRecorded(): void {
    $setId = '20261126T030000Z-dddddd';
    $this->helperReporting($setId, ['codeChanges' => ['label' => 'code', 'compared' => FALSE, 'reason' => 'previous-unreadable', 'counts' => ['added' => 0, 'modified' => 0, 'removed' => 0], 'paths' => [], 'omitted' => 0]]);
    $run = $this->service->runBackup(TRUE, 'page');
    FakeNode::poll($this->service, $run['runId'], function (array $s): bool {
      return $s['done'];
    });
    $this->assertSame(['label' => 'code', 'compared' => FALSE, 'counts' => ['added' => 0, 'modified' => 0, 'removed' => 0], 'paths' => [], 'omitted' => 0, 'reason' => 'previous-unreadable'], $this->service->codeChanges($setId)['changes']);
  }

  public function testASetWithoutRecordedChangesSaysSoAndBadSetIdsAreRefused(): void {
    $this->helperReporting('20261126T040000Z-eeeeee', []);
    $this->assertSame('result', $this->service->runBackup(FALSE, 'cli')['result']['type']);
    $this->assertSame(['setId' => '20261126T040000Z-eeeeee', 'recorded' => FALSE, 'changes' => NULL], $this->service->codeChanges('20261126T040000Z-eeeeee'));
    foreach (['../changes/x', "20261126T040000Z-eeeeee\n", '', '.hidden'] as $bad) {
      try {
        $this->service->codeChanges($bad);
        $this->fail('accepted ' . json_encode($bad));
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('USAGE', $e->getErrorCode());
      }
    }
  }

  public function testUninstallRemovesEveryRecordAndTheirFolderAndNothingElse(): void {
    $dir = $this->dir . '/changes';
    $store = new CRM_Civibackup_CodeChanges($dir);
    $store->save('20261126T020000Z-aaaaaa', self::changes(1));
    $store->save('20261127T020000Z-bbbbbb', self::changes(2));
    file_put_contents($dir . '/20261127T020000Z-bbbbbb.json.tmp1a2b3c', 'left by a killed save');
    file_put_contents($this->dir . '/20261128T020000Z-cccccc.json', 'beside the folder');
    $this->assertSame(2, $store->removeAll());
    $this->assertDirectoryDoesNotExist($dir);
    $this->assertFileExists($this->dir . '/20261128T020000Z-cccccc.json');
  }

  public function testARecordThatCannotBeWrittenDoesNotFailTheRun(): void {
    $setId = '20261126T050000Z-ffffff';
    $this->helperReporting($setId, ['codeChanges' => self::changes(2)]);
    mkdir($this->dir . '/private/civibackup', 0700, TRUE);
    file_put_contents($this->dir . '/private/civibackup/changes', 'a file where the directory should be');
    $run = $this->service->runBackup(FALSE, 'cron');
    $this->assertSame('result', $run['result']['type']);
    $this->assertSame('success', $this->service->civi()->getSetting('civibackup_last_run')['status']);
    $this->assertFalse($this->service->codeChanges($setId)['recorded']);
    $this->assertStringContainsString('changes', $this->service->runs()->meta($run['runId'])['codeChangesError']);
  }

}
