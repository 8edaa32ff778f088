<?php
declare(strict_types = 1);

/**
 * The complete backup sets at the local destination, as the helper lists them
 * (`civibackup list --json`, SetSummary records, newest first): list, find one, delete one.
 */
final class CRM_Civibackup_Sets {

  public const SET_ID_PATTERN = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/D';

  /**
   * @var CRM_Civibackup_Site
   */
  private $site;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_RunLock
   */
  private $lock;

  public function __construct(CRM_Civibackup_Site $site, CRM_Civibackup_Helper $helper, CRM_Civibackup_RunLock $lock) {
    $this->site = $site;
    $this->helper = $helper;
    $this->lock = $lock;
  }

  /**
   * Backup.get: the complete sets at the destination, newest first.
   */
  public function list(): array {
    $destination = $this->site->destination();
    if (!is_dir($destination)) {
      return [];
    }
    return array_values((array) ($this->helper->summaryOf(['list', $destination])['sets'] ?? []));
  }

  /**
   * The set with this id, from `list` (or the list given).
   */
  public function find(string $setId, ?array $sets = NULL): array {
    if (!preg_match(self::SET_ID_PATTERN, $setId)) {
      throw new CRM_Civibackup_Error('USAGE', 'Not a backup set id.', 'Use an id from the list of sets.');
    }
    foreach ($sets ?? $this->list() as $set) {
      if (($set['setId'] ?? NULL) === $setId) {
        return $set;
      }
    }
    throw new CRM_Civibackup_Error('USAGE', "There is no complete set $setId at the destination.", 'Use an id from the list of sets.');
  }

  /**
   * Backup.delete: one set; never the newest complete one.
   */
  public function delete(string $setId): array {
    $sets = $this->list();
    $set = $this->find($setId, $sets);
    if ($sets[0]['setId'] === $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The newest complete backup set cannot be deleted.', 'Make a newer backup first if you really want this one gone.');
    }
    $destination = realpath($this->site->destination());
    $path = realpath((string) $set['location']);
    if ($destination === FALSE || $path === FALSE || dirname($path) !== $destination) {
      throw new CRM_Civibackup_Error('USAGE', 'Only sets directly inside the destination directory can be deleted here.', 'Delete it by hand.');
    }
    $runId = CRM_Civibackup_RunStore::newRunId();
    $this->lock->acquire($runId);
    try {
      self::removeTree($path);
    }
    finally {
      $this->lock->release();
    }
    return ['setId' => $setId, 'deleted' => TRUE];
  }

  private static function removeTree(string $path): void {
    if (is_link($path) || !is_dir($path)) {
      @unlink($path);
      return;
    }
    foreach (scandir($path) ?: [] as $name) {
      if ($name !== '.' && $name !== '..') {
        self::removeTree($path . '/' . $name);
      }
    }
    rmdir($path);
  }

}
