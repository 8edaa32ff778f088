<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.overview's setList: whether the sets at the destination are known. When the helper
 * cannot run or cannot list them, the page must be able to say "unknown" (with the reason and
 * what to do) rather than "no backup yet". BackupService runs a scripted fake `node`;
 * FakeCiviSeam stands in for CiviCRM.
 */
final class OverviewSetListTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_overview_sets_');
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

}
