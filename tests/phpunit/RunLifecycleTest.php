<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Run lifecycle of BackupService with a scripted fake `node` (so the cases that are hard to
 * provoke with the real helper are exact): a detached helper that crashes, one that is
 * cancelled, the one-run-at-a-time lock, and a restore chain that is cancelled between its
 * safety backup and the restore. FakeCiviSeam stands in for CiviCRM.
 */
final class RunLifecycleTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  /**
   * @var string[]
   */
  private $started = [];

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_lifecycle_');
    mkdir($this->dir . '/private');
    $this->civi = new FakeCiviSeam($this->dir . '/private');
    $this->civi->settings['civibackup_alert_emails'] = ['admin@example.org'];
    $this->civi->directories['custom'] = $this->dir . '/custom/';
  }

  protected function tearDown(): void {
    // Stop any fake helper still sleeping (its run id is in the lock file).
    foreach ($this->started as $runId) {
      $meta = $this->service->runs()->meta($runId);
      if (!empty($meta['pid'])) {
        CRM_Civibackup_Launcher::terminate((int) $meta['pid']);
      }
    }
    TempDir::remove($this->dir);
  }

  private function fakeNode(string $body): void {
    $this->service = new CRM_Civibackup_BackupService($this->civi, $this->dir . '/ext', FakeNode::install($this->dir, $body));
  }

  private function poll(string $runId, callable $until): array {
    return FakeNode::poll($this->service, $runId, $until);
  }

  public function testADetachedHelperThatCrashesEndsTheRunVisibly(): void {
    $this->fakeNode("@start(1|,\"command\":\"backup\",\"toolVersion\":\"0\")\necho 'out of memory' >&2\nexit 134\n");
    $run = $this->service->runBackup(TRUE, 'page');
    $this->started[] = $run['runId'];
    $status = $this->poll($run['runId'], function (array $s): bool {
      return $s['done'];
    });
    $last = end($status['events']);
    $this->assertSame('error', $last['type']);
    $this->assertSame('INTERNAL', $last['code']);
    $this->assertStringContainsString('out of memory', $last['message']);
    $this->assertSame([1, 2], array_column($status['events'], 'seq'));
    $this->assertSame('failed', $this->civi->settings['civibackup_last_run']['status']);
    $this->assertCount(1, $this->civi->mails, 'failure alert sent once');
    $this->service->status($run['runId'], 0);
    $this->assertCount(1, $this->civi->mails);
  }

  public function testCancelStopsARunningHelperAndTheLockHoldsUntilThen(): void {
    $this->fakeNode("@start(1|,\"command\":\"backup\",\"toolVersion\":\"0\")\nsleep 600\n");
    $run = $this->service->runBackup(TRUE, 'page');
    $this->started[] = $run['runId'];
    $this->poll($run['runId'], function (array $s): bool {
      return $s['running'] && count($s['events']) === 1;
    });

    try {
      $this->service->runBackup(TRUE, 'page');
      $this->fail('a second run started while the first runs');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('LOCKED', $e->getErrorCode());
      $this->assertStringContainsString($run['runId'], $e->getMessage());
    }

    $this->assertTrue($this->service->cancel($run['runId'])['cancelled']);
    $status = $this->poll($run['runId'], function (array $s): bool {
      return $s['done'];
    });
    $last = end($status['events']);
    $this->assertSame('CANCELLED', $last['code']);
    // The helper died of the SIGTERM without reporting: that is the cancel, not a crash.
    $this->assertSame('Cancelled at your request.', $last['message']);
    $this->assertFalse($last['retryable']);
    $this->assertSame('Cancelled at your request.', $this->civi->settings['civibackup_last_run']['message']);
    $this->assertFalse($status['running']);
    $this->assertNull($this->service->lock()->heldBy());
    $this->assertSame([], $this->civi->mails, 'a cancelled run is not a failure to alert about');
  }

  /**
   * Cancel from the page while cron runs a backup attached in another process. The fake
   * helper answers SIGTERM as the real one does: an error event with code CANCELLED.
   */
  public function testCancelReachesAnAttachedRunInAnotherProcess(): void {
    // The start event comes last, so the test cancels only once the trap is in place.
    $this->fakeNode(<<<'SH'
cancelled() {
  @error(2|,"code":"CANCELLED","message":"The run was cancelled.","hint":"h","retryable":true,"exitCode":1)
  kill $SLEEPER
  exit 1
}
trap cancelled TERM
sleep 600 3>&- >/dev/null 2>&1 &
SLEEPER=$!
@start(1|,"command":"backup","toolVersion":"0")
wait
SH);
    $child = proc_open([PHP_BINARY, __DIR__ . '/Support/attached-run.php', $this->dir], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
    $deadline = time() + 120;
    $runId = NULL;
    while ($runId === NULL || empty($this->service->runs()->meta($runId)['pid']) || count($this->service->runs()->events($runId)->readAll()) < 1) {
      $this->assertLessThan($deadline, time(), 'the attached run did not start');
      usleep(20000);
      $runId = $this->service->runs()->list()[0] ?? NULL;
    }
    $this->started[] = $runId;
    $this->assertTrue($this->service->status($runId, 0)['running']);
    $this->assertTrue($this->service->cancel($runId)['cancelled']);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    proc_close($child);
    $result = json_decode((string) $out, TRUE);
    $this->assertIsArray($result, "child output: $out $err");
    $this->assertSame('CANCELLED', $result['result']['code'], json_encode($result));
    $this->assertSame('Cancelled at your request.', $result['result']['message']);
    $status = $this->service->status($runId, 0);
    $this->assertTrue($status['done']);
    $this->assertSame('CANCELLED', end($status['events'])['code']);
    $this->assertSame('Cancelled at your request.', end($status['events'])['message']);
  }

  public function testRestoreChainCancelledBetweenStepsNeverRestores(): void {
    $marker = $this->dir . '/restore-ran';
    $dest = $this->dir . '/private/civibackup/sets';
    $this->fakeNode(<<<SH
case "\$2" in
  list) @start(1|,"command":"list","toolVersion":"0")
        @result(2|,"command":"list","summary":{"sets":[{"setId":"s1","location":"$dest/s1","createdAt":"2026-11-26T06:00:00Z","finishedAt":"2026-11-26T06:00:01Z","verification":{"state":"unverified"},"databases":[{"role":"main","name":"civicrm","tables":1,"rows":1}],"directories":[]}]}) ;;
  backup) @start(1|,"command":"backup","toolVersion":"0")
          @result(2|,"command":"backup","set":"$dest/s2","summary":{}) ;;
  restore) touch '$marker'
           @start(1|,"command":"restore","toolVersion":"0")
           @result(2|,"command":"restore","summary":{}) ;;
esac
SH);
    mkdir($dest, 0700, TRUE);
    $run = $this->service->restore('s1', TRUE, [], 's1', TRUE);
    $this->started[] = $run['runId'];
    // Wait for the safety backup to end without polling status (which would start the restore).
    $events = $this->service->runs()->events($run['runId']);
    $deadline = time() + 120;
    while ($events->finalEvent() === NULL || $this->service->lock()->heldBy() !== NULL) {
      $this->assertLessThan($deadline, time());
      usleep(20000);
    }
    $this->assertTrue($this->service->cancel($run['runId'])['cancelled']);
    $status = $this->service->status($run['runId'], 0);
    $this->assertTrue($status['done']);
    $last = end($status['events']);
    $this->assertSame('CANCELLED', $last['code']);
    $this->assertFileDoesNotExist($marker, 'the restore step never started');
    $this->assertSame(0, $this->civi->flushes);
  }

  public function testRestoreChainStartsTheRestoreOnlyWhenPolled(): void {
    $marker = $this->dir . '/restore-ran';
    $dest = $this->dir . '/private/civibackup/sets';
    $this->fakeNode(<<<SH
case "\$2" in
  list) @result(1|,"command":"list","summary":{"sets":[{"setId":"s1","location":"$dest/s1","createdAt":"x","finishedAt":"x","verification":{"state":"unverified"},"databases":[{"role":"main","name":"civicrm","tables":1,"rows":1}],"directories":[{"label":"custom","files":1,"bytes":1}]}]}) ;;
  backup) @start(1|,"command":"backup","toolVersion":"0")
          @result(2|,"command":"backup","set":"$dest/s2","summary":{}) ;;
  restore) echo "\$*|\$CIVIBACKUP_DSN" > '$marker'
           @start(1|,"command":"restore","toolVersion":"0")
           @result(2|,"command":"restore","summary":{}) ;;
esac
SH);
    mkdir($dest, 0700, TRUE);
    $run = $this->service->restore('s1', TRUE, ['custom'], 's1', TRUE);
    $this->started[] = $run['runId'];
    $status = $this->poll($run['runId'], function (array $s): bool {
      return $s['done'];
    });
    $this->assertSame(['start', 'phase', 'start', 'result'], array_column($status['events'], 'type'));
    $this->assertSame([1, 2, 3, 4], array_column($status['events'], 'seq'));
    $this->assertSame('restore', $status['events'][1]['phase']);
    $this->assertSame(1, $this->civi->flushes);
    $safetyJob = json_decode((string) file_get_contents($this->service->runs()->jobFile($run['runId'])), TRUE);
    $this->assertSame('safety-before-restore', $safetyJob['trigger']);
    $this->assertArrayNotHasKey('retention', $safetyJob, 'the safety backup must not prune the set being restored');
    $this->assertSame(
      $this->dir . "/ext/dist/civibackup.mjs restore $dest/s1 --force --scope civicrm --files custom=" . $this->dir . '/custom --json|' . $this->civi->dsn . "\n",
      (string) file_get_contents($marker),
      'restore argv (no secret) and the DSN in the environment'
    );
  }

}
