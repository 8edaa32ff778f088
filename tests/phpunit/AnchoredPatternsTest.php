<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Every identifier pattern the glue checks input against ends with `$` under the D modifier:
 * without it PHP's `$` also matches before a final newline, so "name\n" passed as a valid
 * set id, run id, label or recipient and reached file paths, the job file or the helper.
 */
final class AnchoredPatternsTest extends TestCase {

  /**
   * @return array<string, array{0: string, 1: string}>
   */
  public static function patterns(): array {
    return [
      'set id' => [CRM_Civibackup_BackupService::SET_ID_PATTERN, '20261126T101500Z-1a2b3c4d'],
      'run id' => [CRM_Civibackup_RunStore::RUN_ID_PATTERN, '20261126-101500-0a1b2c3d'],
      'offsite label' => [CRM_Civibackup_JobBuilder::LABEL_PATTERN, 'offsite-1'],
      'recipient' => [CRM_Civibackup_JobBuilder::RECIPIENT_PATTERN, 'age1' . str_repeat('q', 58)],
      'source id' => [CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN, 'example-prod'],
    ];
  }

  /**
   * @dataProvider patterns
   */
  public function testAValidValueMatchesAndTheSameValueWithATrailingNewlineDoesNot(string $pattern, string $valid): void {
    $this->assertSame(1, preg_match($pattern, $valid));
    $this->assertSame(0, preg_match($pattern, $valid . "\n"));
  }

}
