<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Where a new install keeps its sets (CRM_Civibackup_Site::defaultDestination and
 * rememberDefaultDestination, called by hook_civicrm_postInstall), on real directories;
 * FakeCiviSeam stands in for CiviCRM's settings and path variables.
 */
final class DefaultDestinationTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_default_dest_');
    mkdir($this->dir . '/www/html/private', 0700, TRUE);
    // As on Standalone: [civicrm.private] inside the web root.
    $this->civi = new FakeCiviSeam($this->dir . '/www/html/private');
    $this->civi->webRoot = $this->dir . '/www/html';
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private function site(): CRM_Civibackup_Site {
    return new CRM_Civibackup_Site($this->civi);
  }

  public function testBesideTheWebRootWhenPrivateIsInsideIt(): void {
    $beside = realpath($this->dir . '/www') . '/civibackup-backups/html';
    $this->assertSame($beside, $this->site()->defaultDestination());
    $this->site()->rememberDefaultDestination();
    $this->assertSame($beside, $this->civi->settings['civibackup_destination']);
    $this->assertSame($beside, $this->site()->destination());
    $this->assertDirectoryDoesNotExist($beside, 'Chosen, not created: the first backup creates it (0700).');
  }

  public function testPrivateWhenItIsOutsideTheWebRoot(): void {
    mkdir($this->dir . '/www/private', 0700);
    $this->civi->pathVariables['[civicrm.private]'] = $this->dir . '/www/private';
    $this->assertSame(CRM_Civibackup_Config::DEFAULT_DESTINATION, $this->site()->defaultDestination());
    $this->site()->rememberDefaultDestination();
    $this->assertSame(CRM_Civibackup_Config::DEFAULT_DESTINATION, $this->civi->settings['civibackup_destination']);
  }

  public function testInsideWithTheProbeWhenNothingBesideCanBeCreated(): void {
    // A file where the folder would go: nothing can be created there (whoever runs this).
    file_put_contents($this->dir . '/www/civibackup-backups', '');
    $this->assertSame(CRM_Civibackup_Config::DEFAULT_DESTINATION, $this->site()->defaultDestination());
    $this->civi->webRoot = NULL;
    $this->assertSame(CRM_Civibackup_Config::DEFAULT_DESTINATION, $this->site()->defaultDestination());
  }

  public function testExistingSitesKeepTheirDestination(): void {
    // Saved by the administrator.
    $this->civi->settings['civibackup_destination'] = '/srv/backups/civicrm';
    $this->site()->rememberDefaultDestination();
    $this->assertSame('/srv/backups/civicrm', $this->civi->settings['civibackup_destination']);
    // The old default with sets in it (an upgrade, or a reinstall after uninstall, which keeps
    // the sets): it stays, so the sets are still listed and restorable.
    $this->civi->settings['civibackup_destination'] = CRM_Civibackup_Config::DEFAULT_DESTINATION;
    mkdir($this->dir . '/www/html/private/civibackup/sets', 0700, TRUE);
    $this->site()->rememberDefaultDestination();
    $this->assertSame(CRM_Civibackup_Config::DEFAULT_DESTINATION, $this->civi->settings['civibackup_destination']);
    $this->assertSame($this->dir . '/www/html/private/civibackup/sets', $this->site()->destination());
  }

  public function testTwoSitesUnderOneParentGetTwoFolders(): void {
    $this->assertNotSame(CRM_Civibackup_Site::besideWebRoot('/opt/civi617'), CRM_Civibackup_Site::besideWebRoot('/opt/wpcivi'));
    $this->assertSame('/var/www/civibackup-backups/html', CRM_Civibackup_Site::besideWebRoot('/var/www/html/'));
  }

}
