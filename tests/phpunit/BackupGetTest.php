<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * API4 Backup.get takes the parameters of any API4 get (select, where, orderBy, limit,
 * offset), as an administrator in the API4 Explorer expects. Runs the real Civi/Api4 classes
 * on tests/phpunit/Fake/Api4StandIns.php, whose BasicGetAction models civicrm-core's; the sets
 * come from BackupService::listSets() through a scripted fake `node` answering `list`.
 */
final class BackupGetTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  public static function setUpBeforeClass(): void {
    require_once __DIR__ . '/Fake/Api4StandIns.php';
    require_once __DIR__ . '/Fake/FakeCiviSeam.php';
  }

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_get_');
    mkdir($this->dir . '/ext/dist', 0700, TRUE);
    mkdir($this->dir . '/bin');
    mkdir($this->dir . '/private/civibackup/sets', 0700, TRUE);
    file_put_contents($this->dir . '/ext/dist/civibackup.mjs', '// stand-in; the fake node never reads it');
  }

  protected function tearDown(): void {
    self::useService(NULL);
    TempDir::remove($this->dir);
  }

  /**
   * The actions reach the service through CRM_Civibackup_ApiSupport::service(); point it at
   * one wired to FakeCiviSeam (NULL: back to the default, built on first use).
   */
  private static function useService(?CRM_Civibackup_BackupService $service): void {
    $property = new ReflectionProperty(CRM_Civibackup_ApiSupport::class, 'service');
    $property->setAccessible(TRUE);
    $property->setValue(NULL, $service);
  }

  /**
   * A fake `node` whose `list` prints one result event with these sets (newest first, as the
   * helper lists them), or $listBody instead.
   */
  private function helperListing(array $sets, ?string $listBody = NULL): void {
    $event = json_encode(['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'result', 'command' => 'list', 'summary' => ['sets' => $sets]], JSON_UNESCAPED_SLASHES);
    file_put_contents($this->dir . '/list.ndjson', $event . "\n");
    TempDir::script($this->dir . '/bin/node', "if [ \"\$1\" = \"--version\" ]; then echo v20.9.0; exit 0; fi\n" . ($listBody ?? 'cat ' . escapeshellarg($this->dir . '/list.ndjson') . "\n"));
    $civi = new FakeCiviSeam($this->dir . '/private');
    $launcher = new CRM_Civibackup_Launcher($this->dir . '/ext/dist/civibackup.mjs', $this->dir . '/bin/node', $this->dir . '/bin:/usr/bin:/bin');
    self::useService(new CRM_Civibackup_BackupService($civi, $this->dir . '/ext', $launcher));
  }

  private static function set(string $setId, int $bytes, bool $encrypted, string $state): array {
    $at = substr($setId, 0, 4) . '-' . substr($setId, 4, 2) . '-' . substr($setId, 6, 2) . 'T02:00:00Z';
    return [
      'setId' => $setId,
      'location' => '/var/backups/civicrm/' . $setId,
      'createdAt' => $at,
      'finishedAt' => $at,
      'bytes' => $bytes,
      'parts' => 12,
      'format' => 2,
      'addedBytes' => intdiv($bytes, 50),
      'referencedBytes' => $bytes,
      'encrypted' => $encrypted,
      'databases' => [['role' => 'main', 'name' => 'civicrm', 'tables' => 186, 'rows' => 1000]],
      'directories' => [['label' => 'custom', 'files' => 10, 'bytes' => 2048]],
      'verification' => ['state' => $state, 'at' => $at],
      'source' => 'host=web1|db=localhost/civicrm|site=Example Org',
      'thisSite' => TRUE,
      'trigger' => 'cron',
    ];
  }

  private static function sampleSets(): array {
    return [
      self::set('20261126T020003Z-k3f9a1', 734003200, TRUE, 'hashes-ok'),
      self::set('20261125T020002Z-9xq2mm', 731906048, TRUE, 'restorable'),
      self::set('20261118T020001Z-a7b7c7', 702545920, FALSE, 'damaged'),
    ];
  }

  public function testWithoutParametersEverySetNewestFirstWithEveryField(): void {
    $this->helperListing(self::sampleSets());
    $records = (array) \Civi\Api4\Backup::get(FALSE)->execute();
    $this->assertSame(self::sampleSets(), $records);
  }

  public function testSelectWhereOrderByAndLimitAsInTheApi4Explorer(): void {
    $this->helperListing(self::sampleSets());
    // The Explorer sends each parameter through its setter, like this.
    $records = (array) \Civi\Api4\Backup::get(FALSE)
      ->setSelect(['setId', 'bytes'])
      ->setWhere([['encrypted', '=', TRUE]])
      ->setOrderBy(['bytes' => 'ASC'])
      ->setLimit(1)
      ->execute();
    $this->assertSame([['setId' => '20261125T020002Z-9xq2mm', 'bytes' => 731906048]], $records);

    $records = (array) \Civi\Api4\Backup::get(FALSE)
      ->addSelect('setId')
      ->addWhere('bytes', '>', 710000000)
      ->addOrderBy('createdAt', 'ASC')
      ->setOffset(1)
      ->execute();
    $this->assertSame([['setId' => '20261126T020003Z-k3f9a1']], $records);

    $records = (array) \Civi\Api4\Backup::get(FALSE)->setSelect(['setId', 'location'])->addWhere('setId', 'LIKE', '202611%-a7b7c7')->execute();
    $this->assertSame([['setId' => '20261118T020001Z-a7b7c7', 'location' => '/var/backups/civicrm/20261118T020001Z-a7b7c7']], $records);
  }

  public function testAnUnknownParameterIsStillRefused(): void {
    $this->expectException(CRM_Core_Exception::class);
    $this->expectExceptionMessage('Unknown api parameter: setSetId');
    \Civi\Api4\Backup::get(FALSE)->setSetId('x');
  }

  public function testEveryFieldOfAListedSetIsDeclaredWithItsType(): void {
    $fields = array_column(\Civi\Api4\Backup::getFields(FALSE)->fieldList(), NULL, 'name');
    $set = self::sampleSets()[0];
    $this->assertSame(array_keys($set), array_keys($fields), 'getFields declares exactly the SetSummary fields, in order');
    $php = ['String' => 'string', 'Timestamp' => 'string', 'Integer' => 'integer', 'Boolean' => 'boolean', 'Array' => 'array'];
    foreach ($set as $name => $value) {
      $this->assertSame($php[$fields[$name]['data_type']], gettype($value), "$name is declared " . $fields[$name]['data_type']);
    }
  }

  public function testTheListingGetsTheSiteDsnInItsEnvironmentAndTheSourceNameSoItCanMarkThisSitesSets(): void {
    $record = escapeshellarg($this->dir . '/list.call');
    $this->helperListing(self::sampleSets(), "echo \"\$*|\$CIVIBACKUP_DSN\" > $record\ncat " . escapeshellarg($this->dir . '/list.ndjson') . "\n");
    $dsn = 'mysql://civi:secret@127.0.0.1:3306/civicrm?new_link=true';
    $destination = $this->dir . '/private/civibackup/sets';
    \Civi\Api4\Backup::get(FALSE)->execute();
    $this->assertSame($this->dir . "/ext/dist/civibackup.mjs list $destination --json|$dsn\n", file_get_contents($this->dir . '/list.call'));

    CRM_Civibackup_ApiSupport::service()->civi()->setSetting('civibackup_source_id', 'example-production');
    \Civi\Api4\Backup::get(FALSE)->execute();
    $this->assertSame($this->dir . "/ext/dist/civibackup.mjs list $destination --source-id example-production --json|$dsn\n", file_get_contents($this->dir . '/list.call'));

    // A name the helper would refuse (backups fail on it with CONFIG): the listing still works, this site unknown.
    CRM_Civibackup_ApiSupport::service()->civi()->setSetting('civibackup_source_id', 'two words');
    \Civi\Api4\Backup::get(FALSE)->execute();
    $this->assertSame($this->dir . "/ext/dist/civibackup.mjs list $destination --json|\n", file_get_contents($this->dir . '/list.call'));
  }

  public function testTheNewestSetOfEachSourceCannotBeDeletedOlderOnesCan(): void {
    $destination = $this->dir . '/private/civibackup/sets';
    $sets = [];
    foreach ([['20261126T020003Z-aaaaaa', 'other-site'], ['20261125T020002Z-bbbbbb', 'this-site'], ['20261124T020002Z-cccccc', 'other-site'], ['20261123T020002Z-dddddd', 'this-site']] as [$setId, $source]) {
      mkdir("$destination/$setId");
      $sets[] = ['location' => "$destination/$setId", 'source' => $source] + self::set($setId, 1, FALSE, 'unverified');
    }
    $this->helperListing($sets);
    foreach (['20261126T020003Z-aaaaaa', '20261125T020002Z-bbbbbb'] as $newest) {
      try {
        \Civi\Api4\Backup::delete(FALSE)->setSetId($newest)->execute();
        $this->fail("$newest is the newest of its source");
      }
      catch (CRM_Core_Exception $e) {
        $this->assertStringContainsString('newest complete backup set of its source cannot be deleted', $e->getMessage());
      }
      $this->assertDirectoryExists("$destination/$newest");
    }
    foreach (['20261124T020002Z-cccccc', '20261123T020002Z-dddddd'] as $older) {
      $this->assertSame([['setId' => $older, 'deleted' => TRUE]], (array) \Civi\Api4\Backup::delete(FALSE)->setSetId($older)->execute());
      $this->assertDirectoryDoesNotExist("$destination/$older");
    }
  }

  public function testAHelperErrorBecomesAnApiErrorWithItsCodeAndHint(): void {
    $error = json_encode(['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'error', 'code' => 'USAGE', 'message' => 'Cannot read /var/backups/civicrm: permission denied.', 'hint' => 'Check its permissions.', 'retryable' => FALSE]);
    $this->helperListing([], 'echo ' . escapeshellarg($error) . "\nexit 1\n");
    try {
      \Civi\Api4\Backup::get(FALSE)->setSelect(['setId'])->execute();
      $this->fail('no error');
    }
    catch (CRM_Core_Exception $e) {
      $this->assertSame('USAGE', $e->getErrorCode());
      $this->assertStringContainsString('[USAGE] Cannot read /var/backups/civicrm: permission denied.', $e->getMessage());
      $this->assertSame('Check its permissions.', $e->getErrorData()['hint']);
    }
  }

}
