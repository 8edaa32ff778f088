<?php
declare(strict_types = 1);

/**
 * What changed in CiviCRM's code since the previous set, per set, as the helper reported it in
 * the backup's result (`summary.codeChanges`, ts-src/protocol/tree-changes.ts): kept in the
 * site's private files ([civicrm.private]/civibackup/changes/<setId>.json, 0600), never at the
 * destination, because it names files and an encrypted destination must not. A record goes
 * when its set is deleted or removed by a backup's retention; one left behind by a set removed
 * any other way (the command line) is never shown, because the page only asks for listed sets.
 */
final class CRM_Civibackup_CodeChanges {

  /**
   * The helper lists at most this many paths (CHANGED_PATHS_LIMIT); more are cut here too.
   */
  public const MAX_PATHS = 500;

  private const KINDS = ['added', 'modified', 'removed'];

  private const REASONS = ['no-previous-set', 'not-in-previous-set', 'previous-unreadable'];

  /**
   * @var string
   */
  private $dir;

  public function __construct(string $dir) {
    $this->dir = rtrim($dir, '/');
  }

  /**
   * After a backup step ended well: keeps its code changes, drops those of the sets its
   * retention removed.
   *
   * @param array $result
   *   The step's final `result` event.
   */
  public function recordBackup(array $result): void {
    $summary = (array) ($result['summary'] ?? []);
    $setId = (string) ($summary['setId'] ?? basename((string) ($result['set'] ?? '')));
    if (is_array($summary['codeChanges'] ?? NULL) && self::isSetId($setId)) {
      $this->save($setId, $summary['codeChanges']);
    }
    foreach ((array) ($summary['retention']['removed'] ?? []) as $removed) {
      if (is_string($removed) && self::isSetId($removed)) {
        $this->remove($removed);
      }
    }
  }

  /**
   * The set's code changes, or NULL when none were recorded (older sets, command-line runs,
   * format-1 sets, a set without CiviCRM's code).
   */
  public function load(string $setId): ?array {
    $file = $this->file($setId);
    if (!is_file($file)) {
      return NULL;
    }
    $record = json_decode((string) file_get_contents($file), TRUE);
    return is_array($record) ? self::normalise($record) : NULL;
  }

  public function save(string $setId, array $changes): void {
    $file = $this->file($setId);
    if (!is_dir($this->dir) && !@mkdir($this->dir, 0700, TRUE) && !is_dir($this->dir)) {
      throw new CRM_Civibackup_Error('IO', "Cannot create {$this->dir}.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
    }
    $json = json_encode(self::normalise($changes), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_THROW_ON_ERROR) . "\n";
    $tmp = $file . '.tmp' . bin2hex(random_bytes(3));
    $old = umask(0077);
    try {
      if (file_put_contents($tmp, $json) === FALSE) {
        throw new CRM_Civibackup_Error('IO', "Cannot write $file.", 'Check that the web server user can write to CiviCRM\'s private files directory.');
      }
    }
    finally {
      umask($old);
    }
    rename($tmp, $file);
  }

  public function remove(string $setId): void {
    $file = $this->file($setId);
    if (is_file($file)) {
      @unlink($file);
    }
  }

  /**
   * Uninstall: every record goes, as the run logs do (they name files and mean nothing
   * without the extension). Returns how many were removed.
   */
  public function removeAll(): int {
    $removed = 0;
    foreach (glob($this->dir . '/*.json') ?: [] as $file) {
      if (self::isSetId(basename($file, '.json')) && @unlink($file)) {
        $removed++;
      }
    }
    foreach (glob($this->dir . '/*.json.tmp*') ?: [] as $file) {
      @unlink($file);
    }
    @rmdir($this->dir);
    return $removed;
  }

  private function file(string $setId): string {
    if (!self::isSetId($setId)) {
      throw new CRM_Civibackup_Error('USAGE', 'Not a backup set id.', 'Use an id from the list of sets.');
    }
    return $this->dir . '/' . $setId . '.json';
  }

  private static function isSetId(string $setId): bool {
    return (bool) preg_match(CRM_Civibackup_Sets::SET_ID_PATTERN, $setId);
  }

  /**
   * Only the fields of the contract, with their types; at most MAX_PATHS paths.
   */
  private static function normalise(array $changes): array {
    $paths = [];
    foreach ((array) ($changes['paths'] ?? []) as $entry) {
      if (count($paths) >= self::MAX_PATHS) {
        break;
      }
      if (is_array($entry) && is_string($entry['path'] ?? NULL) && in_array($entry['change'] ?? NULL, self::KINDS, TRUE)) {
        $paths[] = ['path' => $entry['path'], 'change' => $entry['change']];
      }
    }
    $counts = [];
    foreach (self::KINDS as $kind) {
      $counts[$kind] = max(0, (int) ($changes['counts'][$kind] ?? 0));
    }
    $record = [
      'label' => (string) ($changes['label'] ?? 'code'),
      'compared' => !empty($changes['compared']),
      'counts' => $counts,
      'paths' => $paths,
      'omitted' => max(0, array_sum($counts) - count($paths)),
    ];
    if (is_string($changes['civicrmVersion'] ?? NULL)) {
      $record['civicrmVersion'] = $changes['civicrmVersion'];
    }
    if (!$record['compared']) {
      $record['reason'] = in_array($changes['reason'] ?? NULL, self::REASONS, TRUE) ? $changes['reason'] : 'previous-unreadable';
    }
    $previous = $changes['previous'] ?? NULL;
    if (is_array($previous) && is_string($previous['setId'] ?? NULL) && self::isSetId($previous['setId'])) {
      $record['previous'] = ['setId' => $previous['setId']];
      if (is_string($previous['civicrmVersion'] ?? NULL)) {
        $record['previous']['civicrmVersion'] = $previous['civicrmVersion'];
      }
    }
    return $record;
  }

}
