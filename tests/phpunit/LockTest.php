<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * One run at a time: flock on a lock file, inherited by the helper process.
 */
final class LockTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  /**
   * @var resource[]
   */
  private $children = [];

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_lock_');
  }

  protected function tearDown(): void {
    foreach ($this->children as $child) {
      $status = proc_get_status($child);
      if ($status['running']) {
        proc_terminate($child, 9);
      }
      proc_close($child);
    }
    TempDir::remove($this->dir);
  }

  public function testSecondRunIsRefusedWhileTheFirstHoldsTheLock(): void {
    $file = $this->dir . '/run.lock';
    $first = new CRM_Civibackup_RunLock($file);
    $first->acquire('run-one');
    $this->assertSame('run-one', (new CRM_Civibackup_RunLock($file))->heldBy());
    try {
      (new CRM_Civibackup_RunLock($file))->acquire('run-two');
      $this->fail('second run got the lock');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('LOCKED', $e->getErrorCode());
      $this->assertStringContainsString('run-one', $e->getMessage());
    }
    $first->release();
    $this->assertNull((new CRM_Civibackup_RunLock($file))->heldBy());
    $second = new CRM_Civibackup_RunLock($file);
    $second->acquire('run-two');
    $this->assertSame('run-two', $second->heldBy());
    $this->assertSame('600', substr(sprintf('%o', fileperms($file)), -3));
  }

  /**
   * The helper inherits the locked descriptor: the lock outlives PHP's handle and dies
   * with the helper, even when it is killed (no stale lock to clean up).
   */
  public function testInheritedLockOutlivesPhpAndIsFreedWhenTheProcessDies(): void {
    $file = $this->dir . '/run.lock';
    $lock = new CRM_Civibackup_RunLock($file);
    $lock->acquire('run-detached');
    // A stand-in helper: waits until its stdin closes (or it is killed).
    $child = proc_open([PHP_BINARY, '-r', 'fwrite(STDOUT, "ready\n"); fgets(STDIN);'], [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w'], 3 => $lock->handle()], $pipes);
    $this->children[] = $child;
    $this->assertSame("ready\n", fgets($pipes[1]));
    $lock->release();

    $probe = new CRM_Civibackup_RunLock($file);
    $this->assertSame('run-detached', $probe->heldBy(), 'the child still holds the lock after PHP let go');
    try {
      $probe->acquire('run-next');
      $this->fail('lock taken while the child runs');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('LOCKED', $e->getErrorCode());
    }

    proc_terminate($child, 9);
    // Wait for the kill to land (a condition, not a sleep).
    while (proc_get_status($child)['running']) {
      usleep(10000);
    }
    $this->assertNull($probe->heldBy(), 'a dead holder leaves no stale lock');
    $probe->acquire('run-next');
    $this->assertSame('run-next', $probe->heldBy());
  }

  public function testStaleLockFileFromACrashedRunDoesNotBlock(): void {
    $file = $this->dir . '/run.lock';
    // What a crashed run leaves: the file with its run id, but no process holding it.
    file_put_contents($file, "run-crashed\n");
    $lock = new CRM_Civibackup_RunLock($file);
    $this->assertNull($lock->heldBy());
    $lock->acquire('run-new');
    $this->assertSame("run-new\n", file_get_contents($file));
  }

}
