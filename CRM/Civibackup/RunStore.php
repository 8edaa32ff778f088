<?php
declare(strict_types = 1);

/**
 * The runs directory in CiviCRM's private files area ([civicrm.private]/civibackup/runs):
 * one directory per run (0700) holding job.json (0600), events.ndjson (the helper's
 * stdout), stderr.log and meta.json (what PHP knows: kind, trigger, pid, steps).
 * Run ids come back from the browser, so they are checked against a strict pattern
 * before they touch a path.
 */
final class CRM_Civibackup_RunStore {

  public const RUN_ID_PATTERN = '/^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$/D';

  /**
   * @var string
   */
  private $root;

  public function __construct(string $root) {
    $this->root = rtrim($root, '/');
  }

  public function root(): string {
    return $this->root;
  }

  public static function newRunId(): string {
    return gmdate('Ymd-His') . '-' . bin2hex(random_bytes(4));
  }

  public static function isRunId(string $runId): bool {
    return (bool) preg_match(self::RUN_ID_PATTERN, $runId);
  }

  /**
   * Creates the run's directory and meta.json; returns the run id.
   */
  public function create(string $kind, string $trigger, array $meta = [], ?string $runId = NULL): string {
    $this->ensureDir($this->root);
    $runId = $runId ?? self::newRunId();
    $this->ensureDir($this->dir($runId));
    $this->writeMeta($runId, ['runId' => $runId, 'kind' => $kind, 'trigger' => $trigger, 'startedAt' => gmdate('c')] + $meta);
    return $runId;
  }

  public function exists(string $runId): bool {
    return self::isRunId($runId) && is_dir($this->root . '/' . $runId);
  }

  public function dir(string $runId): string {
    if (!self::isRunId($runId)) {
      throw new CRM_Civibackup_Error('USAGE', 'Not a CiviBackup run id.', 'Use the run id that Backup.run returned.');
    }
    return $this->root . '/' . $runId;
  }

  public function eventsFile(string $runId): string {
    return $this->dir($runId) . '/events.ndjson';
  }

  public function stderrFile(string $runId): string {
    return $this->dir($runId) . '/stderr.log';
  }

  public function jobFile(string $runId): string {
    return $this->dir($runId) . '/job.json';
  }

  public function events(string $runId): CRM_Civibackup_EventLog {
    return new CRM_Civibackup_EventLog($this->eventsFile($runId));
  }

  /**
   * Writes the job file, readable by the web server user only. It holds no secret
   * (secrets travel in environment variables) but it does reveal paths and hosts.
   */
  public function writeJob(string $runId, array $job): string {
    $file = $this->jobFile($runId);
    $this->writePrivate($file, json_encode($job, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n");
    return $file;
  }

  public function writeMeta(string $runId, array $meta): void {
    $this->writePrivate($this->dir($runId) . '/meta.json', json_encode($meta, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n");
  }

  public function updateMeta(string $runId, array $changes): array {
    $meta = array_merge($this->meta($runId), $changes);
    $this->writeMeta($runId, $meta);
    return $meta;
  }

  public function meta(string $runId): array {
    $file = $this->dir($runId) . '/meta.json';
    if (!is_file($file)) {
      return [];
    }
    $meta = json_decode((string) file_get_contents($file), TRUE);
    return is_array($meta) ? $meta : [];
  }

  /**
   * Run ids, newest first, optionally only of one kind (backup, verify, restore).
   *
   * @return string[]
   */
  public function list(?string $kind = NULL): array {
    if (!is_dir($this->root)) {
      return [];
    }
    $ids = array_values(array_filter(scandir($this->root) ?: [], [self::class, 'isRunId']));
    rsort($ids, SORT_STRING);
    if ($kind !== NULL) {
      $ids = array_values(array_filter($ids, function (string $id) use ($kind): bool {
        return ($this->meta($id)['kind'] ?? NULL) === $kind;
      }));
    }
    return $ids;
  }

  /**
   * Removes all but the newest $keep run directories (never one named in $protect).
   */
  public function prune(int $keep, array $protect = []): int {
    $removed = 0;
    foreach (array_slice($this->list(), $keep) as $runId) {
      if (in_array($runId, $protect, TRUE)) {
        continue;
      }
      $dir = $this->dir($runId);
      foreach (scandir($dir) ?: [] as $name) {
        if ($name !== '.' && $name !== '..') {
          @unlink($dir . '/' . $name);
        }
      }
      if (@rmdir($dir)) {
        $removed++;
      }
    }
    return $removed;
  }

  private function ensureDir(string $dir): void {
    if (!is_dir($dir) && !@mkdir($dir, 0700, TRUE) && !is_dir($dir)) {
      throw new CRM_Civibackup_Error('IO', "Cannot create $dir.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
    }
  }

  private function writePrivate(string $file, string $content): void {
    $tmp = $file . '.tmp' . bin2hex(random_bytes(3));
    $old = umask(0077);
    try {
      if (file_put_contents($tmp, $content) === FALSE) {
        throw new CRM_Civibackup_Error('IO', "Cannot write $file.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
      }
    }
    finally {
      umask($old);
    }
    chmod($tmp, 0600);
    rename($tmp, $file);
  }

}
