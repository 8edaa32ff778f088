<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.overview's next scheduled run (CRM_Civibackup_Overview::nextRun): a date only when
 * cron has one ahead; NULL for an active job means "at the next cron run" (QA finding 10:
 * a fresh install's active, never-run job was shown as switched off).
 */
final class OverviewNextRunTest extends TestCase {

  private const NOW = 1795680000;

  private static function job(array $fields): array {
    return $fields + ['is_active' => 1, 'run_frequency' => 'Daily', 'last_run' => NULL, 'scheduled_run_date' => NULL];
  }

  public function testAnActiveJobThatNeverRanRunsAtTheNextCronRun(): void {
    $this->assertNull(CRM_Civibackup_Overview::nextRun(self::job([]), self::NOW));
  }

  public function testLastRunPlusTheFrequencyWhenThatIsAhead(): void {
    $lastRun = date('Y-m-d H:i:s', self::NOW - 3600);
    $this->assertSame(date('Y-m-d H:i:s', self::NOW - 3600 + 86400), CRM_Civibackup_Overview::nextRun(self::job(['last_run' => $lastRun]), self::NOW));
    $this->assertSame(date('Y-m-d H:i:s', self::NOW - 3600 + 7 * 86400), CRM_Civibackup_Overview::nextRun(self::job(['last_run' => $lastRun, 'run_frequency' => 'Weekly']), self::NOW));
  }

  public function testATimeAlreadyPassedMeansTheNextCronRun(): void {
    $this->assertNull(CRM_Civibackup_Overview::nextRun(self::job(['last_run' => date('Y-m-d H:i:s', self::NOW - 3 * 86400)]), self::NOW));
    $this->assertNull(CRM_Civibackup_Overview::nextRun(self::job(['scheduled_run_date' => date('Y-m-d H:i:s', self::NOW - 60)]), self::NOW));
  }

  public function testAScheduledDateAheadWins(): void {
    $date = date('Y-m-d H:i:s', self::NOW + 600);
    $this->assertSame($date, CRM_Civibackup_Overview::nextRun(self::job(['scheduled_run_date' => $date, 'last_run' => date('Y-m-d H:i:s', self::NOW - 60)]), self::NOW));
  }

  public function testAnInactiveOrMissingJobHasNoNextRun(): void {
    $this->assertNull(CRM_Civibackup_Overview::nextRun(self::job(['is_active' => 0, 'last_run' => date('Y-m-d H:i:s', self::NOW - 60)]), self::NOW));
    $this->assertNull(CRM_Civibackup_Overview::nextRun(NULL, self::NOW));
  }

}
