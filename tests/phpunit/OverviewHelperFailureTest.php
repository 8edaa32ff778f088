<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.overview when the helper cannot run or cannot list the sets: `setList` says the sets
 * are unknown (with the reason and what to do) and the warnings carry the message that says
 * what to fix, never "there is no complete backup yet". BackupService runs a scripted fake
 * `node`; FakeCiviSeam stands in for CiviCRM.
 */
final class OverviewHelperFailureTest extends TestCase {

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
   * The overview with a fake node that prints $version for --version and runs $listBody
   * for the helper's verbs; $nodePath overrides the node binary given to the launcher.
   */
  private function overview(string $version, string $listBody, ?string $nodePath = NULL): array {
    TempDir::script($this->dir . '/bin/node', "if [ \"\$1\" = \"--version\" ]; then echo $version; exit 0; fi\n$listBody");
    $civi = new FakeCiviSeam($this->dir . '/private');
    $launcher = new CRM_Civibackup_Launcher($this->dir . '/ext/dist/civibackup.mjs', $nodePath ?? $this->dir . '/bin/node', $this->dir . '/bin:/usr/bin:/bin');
    return (new CRM_Civibackup_Overview(new CRM_Civibackup_BackupService($civi, $this->dir . '/ext', $launcher)))->build();
  }

  private static function event(array $fields): string {
    return 'echo ' . escapeshellarg(json_encode(['v' => 1, 'seq' => 1, 'runId' => 'r', 'time' => '2026-11-26T07:00:00Z'] + $fields)) . "\n";
  }

  public function testAListedEmptyDestinationIsKnownAndEmpty(): void {
    $o = $this->overview('v20.9.0', self::event(['type' => 'result', 'command' => 'list', 'summary' => ['sets' => []]]));
    $this->assertSame(['state' => 'known'], $o['setList']);
    $this->assertNull($o['lastBackup']);
  }

  public function testAListingErrorMakesTheSetsUnknownWithTheHelpersMessageAndHint(): void {
    $o = $this->overview('v20.9.0', self::event(['type' => 'error', 'code' => 'IO', 'message' => 'Cannot read the destination: permission denied.', 'hint' => 'Make it readable by the web server user.', 'retryable' => FALSE]) . "exit 1\n");
    $this->assertSame([
      'state' => 'unknown',
      'code' => 'IO',
      'reason' => 'Cannot read the destination: permission denied.',
      'hint' => 'Make it readable by the web server user.',
    ], $o['setList']);
    $this->assertNull($o['lastBackup']);
    $this->assertNull($o['lastRestorable']);
  }

  public function testNodeTooOldMakesTheSetsUnknownWithWhatToInstall(): void {
    $o = $this->overview('v18.19.0', "echo 'the helper must not be started' >&2\nexit 1\n");
    $this->assertSame('unknown', $o['setList']['state']);
    $this->assertSame('NODE_VERSION', $o['setList']['code']);
    $this->assertStringContainsString('v18.19.0', $o['setList']['reason']);
    $this->assertStringContainsString('Install Node.js 20 or newer', $o['setList']['hint']);
    $this->assertStringContainsString('Backups settings', $o['setList']['hint']);
  }

  public function testAMissingNodeBinaryMakesTheSetsUnknownWithWhereToSetItsPath(): void {
    $o = $this->overview('v20.9.0', "exit 0\n", $this->dir . '/no-such/node');
    $this->assertSame('unknown', $o['setList']['state']);
    $this->assertSame('NODE_VERSION', $o['setList']['code']);
    $this->assertStringContainsString($this->dir . '/no-such/node', $o['setList']['reason']);
    $this->assertStringContainsString('set the path of its node binary in the Backups settings', $o['setList']['hint']);
    $this->assertNull($o['nodeVersion']);
  }

  /** The overview's warnings by name. */
  private function warnings(string $version, string $listBody): array {
    return array_column($this->overview($version, $listBody)['warnings'], NULL, 'name');
  }

  public function testNodeTooOldIsSaidOnceInSetListWithNoGuessAboutBackupsAndNoZeroFigures(): void {
    $o = $this->overview('v18.19.0', "echo 'the helper must not be started' >&2\nexit 1\n");
    $w = array_column($o['warnings'], NULL, 'name');
    $this->assertSame(['civibackupNotEncrypted', 'civibackupNoOffsite'], array_keys($w), 'the Node.js message is in setList only');
    $this->assertStringContainsString('v18.19.0', $o['setList']['reason']);
    $this->assertNull($o['storage'][0]['sets'], 'unknown, not 0 sets');
    $this->assertNull($o['storage'][0]['bytes'], 'unknown, not 0 B');
  }

  public function testAListingErrorIsShownInsteadOfNoBackup(): void {
    $o = $this->overview('v20.9.0', self::event(['type' => 'error', 'code' => 'USAGE', 'message' => 'Cannot read the destination: permission denied.', 'hint' => 'Make it readable by the web server user.', 'retryable' => FALSE]) . "exit 2\n");
    $w = array_column($o['warnings'], NULL, 'name');
    $this->assertArrayNotHasKey('civibackupNoRecentBackup', $w);
    $this->assertArrayNotHasKey('civibackupSetsUnknown', $w, 'said once, in setList');
    $this->assertSame('Cannot read the destination: permission denied.', $o['setList']['reason']);
    $this->assertSame('Make it readable by the web server user.', $o['setList']['hint']);
    $this->assertNull($o['storage'][0]['sets']);
  }

  public function testAnEmptyDestinationStillSaysThereIsNoBackupYet(): void {
    $w = $this->warnings('v20.9.0', self::event(['type' => 'result', 'command' => 'list', 'summary' => ['sets' => []]]));
    $this->assertStringContainsString('There is no complete backup of this site yet.', $w['civibackupNoRecentBackup']['message']);
    $this->assertSame([['destination' => $this->dir . '/private/civibackup/sets', 'bytes' => 0, 'sets' => 0]], $this->overview('v20.9.0', self::event(['type' => 'result', 'command' => 'list', 'summary' => ['sets' => []]]))['storage'], 'known and empty: 0');
    $this->assertArrayNotHasKey('civibackupSetsUnknown', $w);
  }

  public function testSpaceUsedIsWhatTheDestinationHoldsNotTheSumOfSharedSets(): void {
    // Two deduplicated sets that each need 700 bytes of shared pieces: the destination holds
    // 720, as the helper's listing says; summing the sets would say 1400.
    $set = ['setId' => '20261126T020003Z-aaaaaa', 'bytes' => 700, 'format' => 2, 'addedBytes' => 20, 'referencedBytes' => 700, 'verification' => ['state' => 'hashes-ok']];
    $older = ['setId' => '20261125T020003Z-bbbbbb', 'addedBytes' => 700] + $set;
    $listing = self::event(['type' => 'result', 'command' => 'list', 'summary' => ['sets' => [$set, $older], 'destinationBytes' => 720]]);
    $this->assertSame(720, $this->overview('v20.9.0', $listing)['storage'][0]['bytes']);
    // A helper that does not report the total (0.1.0 sets are full copies): the sum.
    $old = self::event(['type' => 'result', 'command' => 'list', 'summary' => ['sets' => [$set, $older]]]);
    $this->assertSame(1400, $this->overview('v20.9.0', $old)['storage'][0]['bytes']);
  }

}
