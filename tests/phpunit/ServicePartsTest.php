<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The parts BackupService wires together, each on its own: where a set's directory restores
 * to (Site), what a step gets in its environment (Secrets), and how the destination is
 * protected (DestinationSafety). FakeCiviSeam stands in for CiviCRM.
 */
final class ServicePartsTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_parts_');
    $this->civi = new FakeCiviSeam($this->dir . '/private');
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private function secrets(): CRM_Civibackup_Secrets {
    $site = new CRM_Civibackup_Site($this->civi);
    return new CRM_Civibackup_Secrets($this->civi, $site, new CRM_Civibackup_Jobs($this->civi, $site));
  }

  public function testADirectoryRestoresIntoItsDirectoriesSettingOrNowhere(): void {
    $this->civi->directories['custom'] = '/var/www/private/civicrm/custom/';
    $site = new CRM_Civibackup_Site($this->civi);
    $this->assertSame('/var/www/private/civicrm/custom', $site->directoryPath('custom'));
    foreach (['images', 'unknown', '../custom'] as $label) {
      try {
        $site->directoryPath($label);
        $this->fail("$label has no path on this site");
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('USAGE', $e->getErrorCode());
      }
    }
  }

  public function testARestoreStepGetsTheSiteDsnsAndATypedIdentityOnlyWhileItsCallLasts(): void {
    $this->civi->loggingDsn = 'mysql://civi:secret@127.0.0.1:3306/civicrm_log';
    $secrets = $this->secrets();
    $identity = CRM_Civibackup_Secrets::identity("  AGE-SECRET-KEY-1ABC \n");
    $this->assertSame([CRM_Civibackup_JobBuilder::ENV_IDENTITY => 'AGE-SECRET-KEY-1ABC'], $identity);
    $this->assertSame([], CRM_Civibackup_Secrets::identity(' '));
    $during = $secrets->withTransient($identity, function () use ($secrets): array {
      return ['restore' => $secrets->forStep('restore'), 'none' => $secrets->forStep('none')];
    });
    $this->assertSame([
      CRM_Civibackup_JobBuilder::ENV_DSN => $this->civi->dsn,
      CRM_Civibackup_JobBuilder::ENV_LOGGING_DSN => $this->civi->loggingDsn,
      CRM_Civibackup_JobBuilder::ENV_IDENTITY => 'AGE-SECRET-KEY-1ABC',
    ], $during['restore']);
    $this->assertSame($identity, $during['none']);
    $this->assertSame([], $secrets->forStep('none'), 'forgotten after the call');
    try {
      $secrets->withTransient($identity, function (): void {
        throw new RuntimeException('the run failed');
      });
    }
    catch (RuntimeException $e) {
      // expected
    }
    $this->assertArrayNotHasKey(CRM_Civibackup_JobBuilder::ENV_IDENTITY, $secrets->forStep('restore'), 'forgotten after a failure too');
  }

  public function testTheDestinationIsCreatedPrivateWithADenyAllHtaccessThatIsNeverOverwritten(): void {
    $safety = new CRM_Civibackup_DestinationSafety($this->civi);
    $destination = $this->dir . '/web/backups/sets';
    $safety->ensureDestination($destination);
    $this->assertSame('0700', substr(sprintf('%o', fileperms($destination)), -4));
    $this->assertSame(CRM_Civibackup_DestinationSafety::DENY_ALL_HTACCESS, file_get_contents($destination . '/.htaccess'));
    file_put_contents($destination . '/.htaccess', "# the administrator's own\n");
    $safety->protectDirectory($destination);
    $this->assertSame("# the administrator's own\n", file_get_contents($destination . '/.htaccess'));

    file_put_contents($this->dir . '/file', 'x');
    try {
      $safety->ensureDestination($this->dir . '/file/sets');
      $this->fail('a destination under a file cannot be created');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('IO', $e->getErrorCode());
    }
  }

}
