<?php
declare(strict_types = 1);

/**
 * The complete backup sets at the local destination, as the helper lists them
 * (`civibackup list --json`, SetSummary records, newest first, each saying whether it is
 * this site's): list, find one, delete one.
 */
final class CRM_Civibackup_Sets {

  public const SET_ID_PATTERN = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/D';

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

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

  /**
   * @var CRM_Civibackup_CodeChanges|null
   */
  private $codeChanges;

  public function __construct(CRM_Civibackup_Civi $civi, CRM_Civibackup_Site $site, CRM_Civibackup_Helper $helper, CRM_Civibackup_RunLock $lock, ?CRM_Civibackup_CodeChanges $codeChanges = NULL) {
    $this->civi = $civi;
    $this->site = $site;
    $this->helper = $helper;
    $this->lock = $lock;
    $this->codeChanges = $codeChanges;
  }

  /**
   * Backup.get: the complete sets at the destination, newest first.
   */
  public function list(): array {
    return $this->listing()['sets'];
  }

  /**
   * The sets and what the destination really holds (`list --json`'s destinationBytes: every
   * stored piece once, so deduplicated sets sharing pieces are not counted twice); NULL from a
   * helper that does not say.
   *
   * @return array{sets: array, destinationBytes: ?int}
   */
  public function listing(): array {
    $destination = $this->site->destination();
    if (!is_dir($destination)) {
      return ['sets' => [], 'destinationBytes' => 0];
    }
    // The site's DSN (environment) and source name let the helper mark this site's sets with
    // the identity its backups record (SetSummary.thisSite).
    // An invalid stored name (backups then fail with CONFIG) leaves this site unknown.
    $args = ['list', $destination];
    $secrets = [CRM_Civibackup_JobBuilder::ENV_DSN => $this->civi->dsn()];
    $sourceId = trim((string) $this->civi->getSetting('civibackup_source_id'));
    if ($sourceId !== '') {
      if (preg_match(CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN, $sourceId)) {
        array_push($args, '--source-id', $sourceId);
      }
      else {
        $secrets = [];
      }
    }
    $summary = $this->helper->summaryOf($args, $secrets);
    return [
      'sets' => array_values((array) ($summary['sets'] ?? [])),
      'destinationBytes' => isset($summary['destinationBytes']) ? (int) $summary['destinationBytes'] : NULL,
    ];
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
   * Backup.delete: one set; never the newest complete set of its source (each site sharing
   * the destination keeps its newest, as retention does).
   */
  public function delete(string $setId): array {
    $sets = $this->list();
    $set = $this->find($setId, $sets);
    if (self::newestOfSource($sets, $set)['setId'] === $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The newest complete backup set of its source cannot be deleted.', 'Make a newer backup first if you really want this one gone.');
    }
    $destination = realpath($this->site->destination());
    $path = realpath((string) $set['location']);
    // A deduplicated set (sets/<id> in the destination's repository) shares its data with
    // other sets: the helper removes its manifest and frees only what no other set needs.
    $deduplicated = $destination !== FALSE && $path !== FALSE && dirname($path) === $destination . '/sets';
    if (!$deduplicated && ($destination === FALSE || $path === FALSE || dirname($path) !== $destination)) {
      throw new CRM_Civibackup_Error('USAGE', 'Only sets directly inside the destination directory can be deleted here.', 'Delete it by hand.');
    }
    $runId = CRM_Civibackup_RunStore::newRunId();
    $this->lock->acquire($runId);
    try {
      if ($deduplicated) {
        $this->helper->summaryOf(['delete', $path]);
      }
      else {
        self::removeTree($path);
      }
    }
    finally {
      $this->lock->release();
    }
    if ($this->codeChanges !== NULL) {
      $this->codeChanges->remove($setId);
    }
    return ['setId' => $setId, 'deleted' => TRUE];
  }

  /**
   * The newest of the sets (newest first) with the same source as $set; sets that record
   * no source count as one source of their own.
   */
  private static function newestOfSource(array $sets, array $set): array {
    foreach ($sets as $candidate) {
      if (($candidate['source'] ?? '') === ($set['source'] ?? '')) {
        return $candidate;
      }
    }
    return $set;
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
