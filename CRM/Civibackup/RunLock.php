<?php
declare(strict_types = 1);

/**
 * One CiviBackup run at a time on this site, with flock(2) on a lock file.
 *
 * The locked file handle is handed to the helper process as an extra descriptor, so the
 * helper inherits the lock: a detached run keeps it after the PHP request has ended, and
 * when the helper dies for any reason the kernel releases it. A lock can therefore never be
 * left "stale" by a dead process; the file's text (the run id) is only informative.
 */
final class CRM_Civibackup_RunLock {

  /**
   * @var string
   */
  private $file;

  /**
   * @var resource|null
   */
  private $handle;

  public function __construct(string $file) {
    $this->file = $file;
  }

  /**
   * Takes the lock for $runId, or throws LOCKED naming the run that holds it.
   *
   * @throws CRM_Civibackup_Error
   */
  public function acquire(string $runId): void {
    if ($this->handle !== NULL) {
      throw new LogicException('The run lock is already held by this object.');
    }
    $dir = dirname($this->file);
    if (!is_dir($dir) && !@mkdir($dir, 0700, TRUE) && !is_dir($dir)) {
      throw new CRM_Civibackup_Error('IO', "Cannot create the directory $dir for the run lock.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
    }
    $handle = @fopen($this->file, 'c+');
    if ($handle === FALSE) {
      throw new CRM_Civibackup_Error('IO', "Cannot open the run lock {$this->file}.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
    }
    if (!flock($handle, LOCK_EX | LOCK_NB)) {
      fclose($handle);
      $holder = $this->holder();
      throw new CRM_Civibackup_Error('LOCKED', 'Another CiviBackup run' . ($holder ? " ($holder)" : '') . ' is in progress.', 'Wait for it to finish, or cancel it on the Backups page.');
    }
    ftruncate($handle, 0);
    fwrite($handle, $runId . "\n");
    fflush($handle);
    @chmod($this->file, 0600);
    $this->handle = $handle;
  }

  /**
   * The locked handle, to pass to the helper as an inherited descriptor.
   *
   * @return resource
   */
  public function handle() {
    if ($this->handle === NULL) {
      throw new LogicException('The run lock is not held.');
    }
    return $this->handle;
  }

  /**
   * Lets go of this process's handle. A helper that inherited it keeps the lock.
   */
  public function release(): void {
    if ($this->handle !== NULL) {
      fclose($this->handle);
      $this->handle = NULL;
    }
  }

  /**
   * The run id holding the lock, or NULL when no process holds it.
   */
  public function heldBy(): ?string {
    if (!is_file($this->file)) {
      return NULL;
    }
    $probe = @fopen($this->file, 'r');
    if ($probe === FALSE) {
      return NULL;
    }
    $free = flock($probe, LOCK_SH | LOCK_NB);
    if ($free) {
      flock($probe, LOCK_UN);
    }
    fclose($probe);
    return $free ? NULL : ($this->holder() ?? 'unknown');
  }

  private function holder(): ?string {
    $text = trim((string) @file_get_contents($this->file));
    return $text === '' ? NULL : $text;
  }

  public function __destruct() {
    $this->release();
  }

}
