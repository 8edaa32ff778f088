<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * System Status messages, with FakeCiviSeam standing in for CiviCRM.
 */
final class StatusChecksTest extends TestCase {

  private const NOW = 1795000000;

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_checks_');
    mkdir($this->dir . '/private/civibackup/sets', 0700, TRUE);
    $this->civi = new FakeCiviSeam($this->dir . '/private');
    $this->civi->webRoot = $this->dir . '/web';
    mkdir($this->civi->webRoot);
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private function set(int $ageHours, string $state = 'unverified'): array {
    $at = gmdate('Y-m-d\TH:i:s\Z', self::NOW - $ageHours * 3600);
    return ['setId' => 'set-' . $ageHours, 'location' => '/x', 'createdAt' => $at, 'finishedAt' => $at, 'bytes' => 1, 'parts' => 1, 'encrypted' => FALSE, 'databases' => [], 'directories' => [], 'verification' => ['state' => $state, 'at' => $at]];
  }

  /**
   * @param array|callable|null $sets
   *   The sets, or fn(): ?array (which may throw like BackupService::listSets()).
   */
  private function names($sets, ?callable $node = NULL, ?string $destination = NULL): array {
    $checks = new CRM_Civibackup_StatusChecks(
      $this->civi,
      is_callable($sets) ? $sets : function () use ($sets): ?array {
        return $sets;
      },
      $node ?? function (): string {
        return 'v20.0.0';
      },
      $destination ?? $this->dir . '/private/civibackup/sets',
      self::NOW
    );
    $byName = [];
    foreach ($checks->evaluate() as $message) {
      $byName[$message['name']] = $message;
    }
    return $byName;
  }

  public function testHealthySiteHasOnlyTheTwoNotices(): void {
    $this->civi->settings['civibackup_recipients'] = ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'];
    $this->civi->settings['civibackup_offsite'] = '[{"name":"s3","type":"s3","options":{}}]';
    $this->assertSame([], $this->names([$this->set(2, 'restorable')]));
    unset($this->civi->settings['civibackup_recipients']);
    $this->civi->settings['civibackup_recipients'] = [];
    $this->civi->settings['civibackup_offsite'] = '[]';
    $messages = $this->names([$this->set(2, 'restorable')]);
    $this->assertSame(['civibackupNotEncrypted', 'civibackupNoOffsite'], array_keys($messages));
    $this->assertSame('notice', $messages['civibackupNotEncrypted']['level']);
    $this->assertSame('notice', $messages['civibackupNoOffsite']['level']);
  }

  public function testNoBackupAtAllAndTooOldBackup(): void {
    $this->assertSame('warning', $this->names([])['civibackupNoRecentBackup']['level']);
    $this->civi->settings['civibackup_max_age_hours'] = 26;
    $this->assertArrayNotHasKey('civibackupNoRecentBackup', $this->names([$this->set(25, 'restorable')]));
    $old = $this->names([$this->set(30, 'restorable')]);
    $this->assertStringContainsString('30 hours old (the limit is 26)', $old['civibackupNoRecentBackup']['message']);
  }

  public function testLastRunFailed(): void {
    $this->civi->settings['civibackup_last_run'] = ['status' => 'failed', 'finishedAt' => '2026-11-26T03:00:00Z', 'code' => 'DISK_FULL', 'message' => 'No space left on /backups'];
    $m = $this->names([$this->set(1, 'restorable')])['civibackupLastRunFailed'];
    $this->assertSame('error', $m['level']);
    $this->assertStringContainsString('DISK_FULL No space left', $m['message']);
  }

  public function testNewestSetNeverProvenRestorable(): void {
    $m = $this->names([$this->set(1, 'hashes-ok'), $this->set(20, 'restorable')]);
    $this->assertSame('warning', $m['civibackupNotProvenRestorable']['level']);
    $this->assertStringContainsString('set-1', $m['civibackupNotProvenRestorable']['message']);
  }

  public function testNodeMissingOrOld(): void {
    $listed = FALSE;
    $sets = function () use (&$listed): array {
      $listed = TRUE;
      return [];
    };
    $m = $this->names($sets, function (): string {
      throw new CRM_Civibackup_Error('NODE_VERSION', '/usr/bin/node is Node.js v18.0.0; CiviBackup needs Node.js 20 or newer.', 'Install Node.js 20.');
    });
    $this->assertSame('error', $m['civibackupNode']['level']);
    $this->assertStringContainsString('v18.0.0', $m['civibackupNode']['message']);
    $this->assertFalse($listed, 'without a usable Node the helper is not asked for the sets');
    // The sets are unknown, so "there is no complete backup yet" would be a guess that buries
    // the message saying what to fix: the Node message is the only one about backups.
    $this->assertSame(['civibackupNode', 'civibackupNotEncrypted', 'civibackupNoOffsite'], array_keys($m));
  }

  public function testWithoutNodeTheLastSuccessfulRunStillAnswersTheAgeQuestion(): void {
    $noNode = function (): string {
      throw new CRM_Civibackup_Error('NODE_VERSION', 'no node', '');
    };
    $this->civi->settings['civibackup_last_run'] = ['status' => 'success', 'finishedAt' => gmdate('c', self::NOW - 3600)];
    $this->assertArrayNotHasKey('civibackupNoRecentBackup', $this->names(NULL, $noNode));
    $this->civi->settings['civibackup_last_run'] = ['status' => 'success', 'finishedAt' => gmdate('c', self::NOW - 30 * 3600)];
    $this->assertStringContainsString('30 hours old', $this->names(NULL, $noNode)['civibackupNoRecentBackup']['message']);
  }

  public function testSetsTheHelperCannotListAreReportedInsteadOfNoBackup(): void {
    $m = $this->names(function (): array {
      throw new CRM_Civibackup_Error('USAGE', 'Cannot read /var/backups/civicrm: permission denied.', 'Make it readable by the web server user.');
    });
    $this->assertSame('error', $m['civibackupSetsUnknown']['level']);
    $this->assertStringContainsString('could not list the backup sets at ' . $this->dir . '/private/civibackup/sets', $m['civibackupSetsUnknown']['message']);
    $this->assertStringContainsString('permission denied. Make it readable by the web server user.', $m['civibackupSetsUnknown']['message']);
    $this->assertArrayNotHasKey('civibackupNoRecentBackup', $m);
    $this->assertArrayNotHasKey('civibackupNotProvenRestorable', $m);
  }

  public function testDestinationInsideTheWebRootIsCritical(): void {
    $inside = $this->civi->webRoot . '/backups';
    mkdir($inside, 0700);
    $m = $this->names([$this->set(1, 'restorable')], NULL, $inside);
    $this->assertSame('critical', $m['civibackupDestinationInWebRoot']['level']);
  }

  public function testDestinationInsideTheWebRootBehindADenyingHtaccessIsAWarning(): void {
    $inside = $this->civi->webRoot . '/private/civibackup/sets';
    mkdir($inside, 0700, TRUE);
    file_put_contents($this->civi->webRoot . '/private/.htaccess', CRM_Civibackup_DestinationSafety::DENY_ALL_HTACCESS);
    $m = $this->names([$this->set(1, 'restorable')], NULL, $inside);
    $this->assertSame('warning', $m['civibackupDestinationInWebRoot']['level']);
    $this->assertStringContainsString('/private/.htaccess', $m['civibackupDestinationInWebRoot']['message']);
    // An .htaccess that does not deny does not count.
    file_put_contents($this->civi->webRoot . '/private/.htaccess', "Options -Indexes\n");
    $this->assertSame('critical', $this->names([$this->set(1, 'restorable')], NULL, $inside)['civibackupDestinationInWebRoot']['level']);
  }

  public function testWorldReadableDestinationIsAWarning(): void {
    $dest = $this->dir . '/private/civibackup/sets';
    chmod($dest, 0755);
    $m = $this->names([$this->set(1, 'restorable')]);
    $this->assertSame('warning', $m['civibackupDestinationReadable']['level']);
    $this->assertStringContainsString('0755', $m['civibackupDestinationReadable']['message']);
    chmod($dest, 0700);
    $this->assertArrayNotHasKey('civibackupDestinationReadable', $this->names([$this->set(1, 'restorable')]));
  }

  public function testEveryCheckNameIsDeclaredForTheHookFilter(): void {
    $this->civi->settings['civibackup_last_run'] = ['status' => 'failed'];
    chmod($this->dir . '/private/civibackup/sets', 0755);
    $names = array_keys($this->names([$this->set(100)], NULL, $this->civi->webRoot));
    $names = array_merge($names, array_keys($this->names(NULL, function (): string {
      throw new CRM_Civibackup_Error('NODE_VERSION', 'x', '');
    })));
    $names = array_merge($names, array_keys($this->names(function (): array {
      throw new CRM_Civibackup_Error('INTERNAL', 'x', '');
    })));
    $hooks = file_get_contents(dirname(__DIR__, 2) . '/CRM/Civibackup/Hooks.php');
    foreach (array_unique($names) as $name) {
      $this->assertStringContainsString("'$name'", $hooks, "$name is listed in CRM_Civibackup_Hooks::CHECK_NAMES");
    }
  }

}
