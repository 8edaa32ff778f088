<?php
declare(strict_types = 1);

/**
 * Backup.restore: two helper steps under one run, the safety backup of the site as it is
 * now, then `restore SET --force` into the live database and/or directories.
 */
final class CRM_Civibackup_RestoreTask {

  /**
   * @var CRM_Civibackup_Site
   */
  private $site;

  /**
   * @var CRM_Civibackup_Jobs
   */
  private $jobs;

  /**
   * @var CRM_Civibackup_Sets
   */
  private $sets;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  /**
   * @var CRM_Civibackup_Secrets
   */
  private $secrets;

  /**
   * @var CRM_Civibackup_RunEngine
   */
  private $engine;

  public function __construct(CRM_Civibackup_Site $site, CRM_Civibackup_Jobs $jobs, CRM_Civibackup_Sets $sets, CRM_Civibackup_Helper $helper, CRM_Civibackup_DestinationSafety $safety, CRM_Civibackup_Secrets $secrets, CRM_Civibackup_RunEngine $engine) {
    $this->site = $site;
    $this->jobs = $jobs;
    $this->sets = $sets;
    $this->helper = $helper;
    $this->safety = $safety;
    $this->secrets = $secrets;
    $this->engine = $engine;
  }

  /**
   * The typed confirmation must equal the set id; a safety backup runs first.
   *
   * @param string[] $directories
   *   Labels of the set's directories to restore.
   */
  public function run(string $setId, bool $database, array $directories, string $confirm, bool $async, string $trigger = 'page', string $identity = ''): array {
    if ($confirm !== $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The confirmation does not match the set id.', 'Type the id of the set you are restoring, exactly as shown.');
    }
    if (!$database && !$directories) {
      throw new CRM_Civibackup_Error('USAGE', 'Nothing to restore was chosen.', 'Choose the database, one or more directories, or both.');
    }
    $set = $this->sets->find($setId);
    $args = ['restore', $set['location'], '--force'];
    foreach ($directories as $label) {
      $args[] = '--files';
      $args[] = $label . '=' . $this->site->directoryPath($label);
    }
    // The helper restores the database when CIVIBACKUP_DSN is in its environment (step
    // secrets 'restore'), and only the directories otherwise.
    [$job, $backupSecrets] = $this->jobs->backup('safety-before-restore');
    // The safety backup never prunes: retention must not remove the set about to be restored.
    unset($job['retention']);
    $this->helper->launcher()->checkNode();
    $this->safety->ensureDestination($job['to']);
    if ($identity !== '' && $async) {
      // The identity is never written to disk, and a detached restore step starts in a
      // later request; an encrypted set is therefore restored attached.
      $async = FALSE;
    }
    return $this->secrets->withTransient(CRM_Civibackup_Secrets::identity($identity), function () use ($args, $database, $async, $trigger, $job, $backupSecrets): array {
      return $this->engine->start('restore', $trigger, [
        ['args' => ['backup', '--job', '{job}'], 'secrets' => 'backup'],
        ['args' => $args, 'secrets' => $database ? 'restore' : 'none', 'flushAfter' => $database],
      ], $async, $job, $backupSecrets);
    });
  }

}
