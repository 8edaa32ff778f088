<?php
declare(strict_types = 1);

/**
 * What System Status says about backups (hook_civicrm_check), as plain records; the hook
 * turns them into CRM_Utils_Check_Message objects through the seam.
 */
final class CRM_Civibackup_StatusChecks {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var callable
   *   fn(): ?array  the sets at the destination, newest first; NULL when unknown. Throws
   *   CRM_Civibackup_Error when the helper cannot list them (that error is reported).
   */
  private $sets;

  /**
   * @var callable
   *   fn(): string  Node's version; throws CRM_Civibackup_Error NODE_VERSION when unusable.
   */
  private $nodeCheck;

  /**
   * @var string
   */
  private $destination;

  /**
   * @var int
   */
  private $now;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  public function __construct(CRM_Civibackup_Civi $civi, callable $sets, callable $nodeCheck, string $destination, ?int $now = NULL, ?CRM_Civibackup_DestinationSafety $safety = NULL) {
    $this->civi = $civi;
    $this->safety = $safety ?? new CRM_Civibackup_DestinationSafety($civi);
    $this->sets = $sets;
    $this->nodeCheck = $nodeCheck;
    $this->destination = rtrim($destination, '/');
    $this->now = $now ?? time();
  }

  /**
   * @return array[]
   *   Each: name, level (Psr\Log\LogLevel value), title, message, icon.
   */
  public function evaluate(): array {
    $messages = [];
    $title = $this->civi->ts('Backups');
    $add = function (string $name, string $level, string $message, string $icon = 'fa-database') use (&$messages, $title): void {
      $messages[] = ['name' => $name, 'level' => $level, 'title' => $title, 'message' => $message, 'icon' => $icon];
    };

    $nodeOk = TRUE;
    try {
      ($this->nodeCheck)();
    }
    catch (CRM_Civibackup_Error $e) {
      $nodeOk = FALSE;
      $add('civibackupNode', 'error', $e->getMessage() . ' ' . $e->getHint(), 'fa-server');
    }

    $sets = NULL;
    if ($nodeOk) {
      try {
        $sets = ($this->sets)();
      }
      catch (CRM_Civibackup_Error $e) {
        $add('civibackupSetsUnknown', 'error', $this->civi->ts('CiviBackup could not list the backup sets at %1, so it cannot tell how old the newest backup is: %2', [
          1 => $this->destination,
          2 => trim($e->getMessage() . ' ' . $e->getHint()),
        ]), 'fa-server');
      }
    }
    $lastRun = (array) ($this->civi->getSetting('civibackup_last_run') ?: []);
    $maxAgeHours = max(1, (int) ($this->civi->getSetting('civibackup_max_age_hours') ?: 26));

    // 1. Age of the newest complete backup. When the sets are unknown (the helper cannot run
    // or cannot list them, reported above) only the last successful run recorded here can
    // answer; without one nothing is said, because "there is no backup yet" would be a guess
    // and would bury the message that says what to fix.
    $newestAt = NULL;
    if (is_array($sets) && $sets) {
      $newestAt = strtotime((string) ($sets[0]['finishedAt'] ?? $sets[0]['createdAt'] ?? '')) ?: NULL;
    }
    elseif ($sets === NULL && ($lastRun['status'] ?? '') === 'success') {
      $newestAt = strtotime((string) ($lastRun['finishedAt'] ?? '')) ?: NULL;
    }
    if ($newestAt === NULL) {
      if (is_array($sets)) {
        $add('civibackupNoRecentBackup', 'warning', $this->civi->ts('There is no complete backup of this site yet. Run one from Administer » System Settings » Backups.'));
      }
    }
    elseif ($this->now - $newestAt > $maxAgeHours * 3600) {
      $add('civibackupNoRecentBackup', 'warning', $this->civi->ts('The newest complete backup is %1 hours old (the limit is %2). Check that the scheduled job "CiviBackup: back up this site" runs.', [
        1 => (int) floor(($this->now - $newestAt) / 3600),
        2 => $maxAgeHours,
      ]));
    }

    // 2. The last run failed. A run an administrator cancelled is not a failure (no alert is
    // sent for it either); check 1 still warns when that leaves the newest backup too old.
    if (($lastRun['status'] ?? '') === 'failed' && ($lastRun['code'] ?? '') !== 'CANCELLED') {
      $add('civibackupLastRunFailed', 'error', $this->civi->ts('The last backup (%1) failed: %2', [
        1 => (string) ($lastRun['finishedAt'] ?? ''),
        2 => trim(($lastRun['code'] ?? '') . ' ' . ($lastRun['message'] ?? '')),
      ]));
    }

    // 3. Never proven restorable.
    if (is_array($sets) && $sets && (($sets[0]['verification']['state'] ?? 'unverified') !== 'restorable')) {
      $add('civibackupNotProvenRestorable', 'warning', $this->civi->ts('The newest backup set (%1) has never been test-restored. Use "Test restore" under Backup sets on the Backups page to prove it can be restored.', [1 => (string) $sets[0]['setId']]));
    }

    // 4. Destination exposure: downloadable (the probe), inside the web root, world-readable.
    foreach ($this->safety->checks($this->destination) as $record) {
      $add($record['name'], $record['level'], $record['message'], $record['icon']);
    }

    // 5. Notices: not encrypted, no offsite copy.
    if (!array_filter((array) ($this->civi->getSetting('civibackup_recipients') ?: []))) {
      $add('civibackupNotEncrypted', 'notice', $this->civi->ts('Backups are not encrypted. Add an age public key on the Backups page so a copied backup cannot be read.'), 'fa-lock');
    }
    if (!CRM_Civibackup_Config::decodeOffsite((string) $this->civi->getSetting('civibackup_offsite'))) {
      $add('civibackupNoOffsite', 'notice', $this->civi->ts('Backups stay on this server only. Add an offsite destination (S3 or SFTP) so a lost server does not take its backups with it.'));
    }
    return $messages;
  }

}
