<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

final class ScratchDatabaseTest extends TestCase {

  public function testDefaultAndConfiguredScratchDatabaseKeepTheCredentials(): void {
    $civi = new FakeCiviSeam('/tmp/cbt_php_scratch');
    $civi->dsn = 'mysql://civi:p%40ss@db.example:3307/civicrm?new_link=true';
    $service = new CRM_Civibackup_BackupService($civi, '/nonexistent');
    $default = CRM_Civibackup_Dsn::parse($service->scratchDsn());
    $this->assertSame('civicrm_cbscratch', $default->database());
    $this->assertSame('p@ss', $default->password());
    $this->assertSame(3307, $default->port());

    $civi->settings['civibackup_scratch_database'] = 'restore_test';
    $this->assertSame('restore_test', CRM_Civibackup_Dsn::parse($service->scratchDsn())->database());

    foreach (['civicrm', 'bad name', 'x`; DROP'] as $refused) {
      $civi->settings['civibackup_scratch_database'] = $refused;
      try {
        $service->scratchDsn();
        $this->fail("\"$refused\" accepted as scratch database");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('CONFIG', $e->getErrorCode());
      }
    }
  }

}
