<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The warnings on the page's first screen (Backup.overview) when the helper cannot run or
 * cannot list the sets: the message that says what to fix, not "there is no complete backup
 * yet". BackupService runs a scripted fake `node`; FakeCiviSeam stands in for CiviCRM.
 */
final class OverviewWarningsTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_overview_');
    mkdir($this->dir . '/ext/dist', 0700, TRUE);
    mkdir($this->dir . '/bin');
    mkdir($this->dir . '/private/civibackup/sets', 0700, TRUE);
    file_put_contents($this->dir . '/ext/dist/civibackup.mjs', '// stand-in; the fake node never reads it');
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  /**
   * The overview's warnings by name, with a fake node that prints $version for --version
   * and runs $listBody for the helper's verbs.
   */
  private function warnings(string $version, string $listBody): array {
    TempDir::script($this->dir . '/bin/node', "if [ \"\$1\" = \"--version\" ]; then echo $version; exit 0; fi\n$listBody");
    $civi = new FakeCiviSeam($this->dir . '/private');
    $launcher = new CRM_Civibackup_Launcher($this->dir . '/ext/dist/civibackup.mjs', $this->dir . '/bin/node', $this->dir . '/bin:/usr/bin:/bin');
    $overview = (new CRM_Civibackup_Overview(new CRM_Civibackup_BackupService($civi, $this->dir . '/ext', $launcher)))->build();
    return array_column($overview['warnings'], NULL, 'name');
  }

  public function testNodeTooOldShowsTheNodeMessageAndNoGuessAboutBackups(): void {
    $w = $this->warnings('v18.19.0', "echo 'the helper must not be started' >&2\nexit 1\n");
    $this->assertSame(['civibackupNode', 'civibackupNotEncrypted', 'civibackupNoOffsite'], array_keys($w));
    $this->assertStringContainsString('v18.19.0', $w['civibackupNode']['message']);
  }

  public function testAListingErrorIsShownInsteadOfNoBackup(): void {
    $error = json_encode(['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'error', 'code' => 'USAGE', 'message' => 'Cannot read the destination: permission denied.', 'hint' => 'Make it readable by the web server user.', 'retryable' => FALSE]);
    $w = $this->warnings('v20.9.0', 'echo ' . escapeshellarg($error) . "\nexit 2\n");
    $this->assertArrayNotHasKey('civibackupNoRecentBackup', $w);
    $this->assertSame('error', $w['civibackupSetsUnknown']['level']);
    $this->assertStringContainsString('Cannot read the destination: permission denied. Make it readable by the web server user.', $w['civibackupSetsUnknown']['message']);
  }

  public function testAnEmptyDestinationStillSaysThereIsNoBackupYet(): void {
    $result = json_encode(['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z', 'type' => 'result', 'command' => 'list', 'summary' => ['sets' => []]]);
    $w = $this->warnings('v20.9.0', 'echo ' . escapeshellarg($result) . "\n");
    $this->assertStringContainsString('There is no complete backup of this site yet.', $w['civibackupNoRecentBackup']['message']);
    $this->assertArrayNotHasKey('civibackupSetsUnknown', $w);
  }

}
