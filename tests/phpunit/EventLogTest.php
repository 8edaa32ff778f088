<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

final class EventLogTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_events_');
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private static function line(int $seq, string $type, array $extra = []): string {
    return json_encode(['v' => 1, 'seq' => $seq, 'runId' => 'r1', 'time' => '2026-11-26T07:00:00Z', 'type' => $type] + $extra) . "\n";
  }

  public function testReadsEventsSinceASequenceNumber(): void {
    $file = $this->dir . '/events.ndjson';
    file_put_contents($file, self::line(1, 'start') . self::line(2, 'phase', ['phase' => 'data']) . self::line(3, 'progress', ['phase' => 'data', 'item' => 't', 'bytes' => 5]));
    $log = new CRM_Civibackup_EventLog($file);
    $this->assertSame([1, 2, 3], array_column($log->readSince(0), 'seq'));
    $this->assertSame([3], array_column($log->readSince(2), 'seq'));
    $this->assertSame([], $log->readSince(3));
    $this->assertNull($log->finalEvent());
  }

  public function testAPartialLastLineIsLeftForTheNextRead(): void {
    $file = $this->dir . '/events.ndjson';
    $complete = self::line(1, 'start');
    $last = self::line(2, 'result', ['command' => 'backup', 'set' => '/s/x', 'summary' => []]);
    $half = substr($last, 0, 30);
    file_put_contents($file, $complete . $half);
    $log = new CRM_Civibackup_EventLog($file);
    $this->assertSame([1], array_column($log->readSince(0), 'seq'));
    $this->assertNull($log->finalEvent());

    file_put_contents($file, substr($last, 30), FILE_APPEND);
    $this->assertSame([2], array_column($log->readSince(1), 'seq'));
    $this->assertSame('/s/x', $log->finalEvent()['set']);
  }

  public function testSkipsStrayLinesAndForeignJson(): void {
    $file = $this->dir . '/events.ndjson';
    file_put_contents($file, "node: warning something\n" . self::line(1, 'start') . "{\"v\":2,\"seq\":2,\"type\":\"start\"}\n{not json\n\n" . self::line(2, 'error', ['code' => 'DB_CONNECT', 'message' => 'm', 'hint' => 'h', 'retryable' => TRUE, 'exitCode' => 2]));
    $log = new CRM_Civibackup_EventLog($file);
    $this->assertSame([1, 2], array_column($log->readAll(), 'seq'));
    $this->assertSame('DB_CONNECT', $log->finalEvent()['code']);
  }

  public function testMissingOrEmptyFile(): void {
    $this->assertSame([], (new CRM_Civibackup_EventLog($this->dir . '/none'))->readAll());
    file_put_contents($this->dir . '/empty', '');
    $this->assertSame([], (new CRM_Civibackup_EventLog($this->dir . '/empty'))->readAll());
  }

}
