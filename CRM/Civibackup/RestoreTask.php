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
   * The scopes of a database restore over the live site (`--scope`): CiviCRM's tables only,
   * so the CMS sharing the database keeps its users and content, or every table of the set.
   */
  public const SCOPES = ['civicrm', 'all'];

  /**
   * Starts a restore. Over the live site: the safety backup, then `restore SET --force`
   * (database with --scope, and/or directories). Into a new database: only `restore SET`
   * into that database, which must not exist or be empty; nothing live is touched, so there
   * is no safety backup and no flush.
   *
   * @param array $request
   *   - setId, confirm (must equal setId): string
   *   - database: bool, scope: 'civicrm'|'all' (default civicrm)
   *   - directories: string[] labels of the set's directories
   *   - newDatabase: string, '' = restore over the live site
   *   - async: bool, trigger: string, identity: string (an age identity, this call only)
   *   - runId: ?string chosen by the caller (see RunEngine::start)
   */
  public function run(array $request): array {
    $setId = (string) ($request['setId'] ?? '');
    $database = !empty($request['database']);
    $scope = (string) ($request['scope'] ?? 'civicrm');
    $directories = array_values(array_map('strval', (array) ($request['directories'] ?? [])));
    $newDatabase = trim((string) ($request['newDatabase'] ?? ''));
    $async = !empty($request['async']);
    $trigger = (string) ($request['trigger'] ?? 'page');
    $identity = (string) ($request['identity'] ?? '');
    $runId = isset($request['runId']) && $request['runId'] !== '' ? (string) $request['runId'] : NULL;

    if ((string) ($request['confirm'] ?? '') !== $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The confirmation does not match the set id.', 'Type the id of the set you are restoring, exactly as shown.');
    }
    if (!in_array($scope, self::SCOPES, TRUE)) {
      throw new CRM_Civibackup_Error('USAGE', "\"$scope\" is not a restore scope.", 'Use civicrm (CiviCRM\'s tables only) or all (every table the set holds).');
    }
    if ($newDatabase !== '' && ($database || $directories)) {
      throw new CRM_Civibackup_Error('USAGE', 'A restore into a new database restores only the database.', 'Leave out database and directories, or restore over the live site without newDatabase.');
    }
    if ($newDatabase === '' && !$database && !$directories) {
      throw new CRM_Civibackup_Error('USAGE', 'Nothing to restore was chosen.', 'Choose the database, one or more directories, or both.');
    }
    $set = $this->sets->find($setId);
    if (($database || $newDatabase !== '') && !self::holdsDatabase($set, 'main')) {
      throw new CRM_Civibackup_Error('USAGE', "Set $setId holds no database.", 'Choose one of its directories, or another set.');
    }
    $held = array_column((array) ($set['directories'] ?? []), 'label');
    foreach ($directories as $label) {
      if (!in_array($label, $held, TRUE)) {
        throw new CRM_Civibackup_Error('USAGE', "Set $setId holds no directory \"$label\".", 'Choose among the directories the set holds.');
      }
    }
    $this->helper->launcher()->checkNode();
    $identitySecret = CRM_Civibackup_Secrets::identity($identity);
    if ($newDatabase !== '') {
      // One step: its secrets go to the helper's environment when it starts, so it can run
      // detached even with an identity.
      $secrets = [CRM_Civibackup_JobBuilder::ENV_DSN => $this->secrets->newDatabaseDsn($newDatabase)] + $identitySecret;
      return $this->engine->start('restore', $trigger, [
        ['args' => ['restore', $set['location']], 'secrets' => 'none'],
      ], $async, NULL, $secrets, $runId);
    }
    return $this->overLiveSite($set, $database, $scope, $directories, $async, $trigger, $identitySecret, $runId);
  }

  private function overLiveSite(array $set, bool $database, string $scope, array $directories, bool $async, string $trigger, array $identitySecret, ?string $runId): array {
    $args = ['restore', $set['location'], '--force'];
    if ($database) {
      array_push($args, '--scope', $scope);
      $work = array_filter($this->site->restoreWorkDatabases());
      if ($work && self::holdsDatabase($set, 'logging') && $this->site->loggingSeparate()) {
        // The helper takes one name of each per run, and this run restores two databases.
        throw new CRM_Civibackup_Error('CONFIG', 'The configured staging or old database can serve one database, but this restore replaces two: CiviCRM\'s and its separate logging database.', 'Empty the settings civibackup_staging_database and civibackup_old_database, so the helper derives them for each database (the database user needs CREATE and DROP on them).');
      }
      foreach ($work as $role => $name) {
        array_push($args, $role === 'staging' ? '--staging-db' : '--old-db', $name);
      }
    }
    foreach ($directories as $label) {
      $args[] = '--files';
      $args[] = $label . '=' . $this->site->directoryPath($label);
    }
    // The helper restores the database when CIVIBACKUP_DSN is in its environment (step
    // secrets 'restore'), and only the directories otherwise.
    [$job, $backupSecrets] = $this->jobs->backup('safety-before-restore');
    // The safety backup never prunes: retention must not remove the set about to be restored.
    unset($job['retention']);
    $this->safety->ensureDestination($job['to']);
    if ($identitySecret && $async) {
      // The identity is never written to disk, and a detached restore step starts in a
      // later request; an encrypted set is therefore restored attached (the page follows it
      // by the run id it chose).
      $async = FALSE;
    }
    return $this->secrets->withTransient($identitySecret, function () use ($args, $database, $async, $trigger, $job, $backupSecrets, $runId): array {
      return $this->engine->start('restore', $trigger, [
        ['args' => ['backup', '--job', '{job}'], 'secrets' => 'backup', 'safety' => TRUE],
        ['args' => $args, 'secrets' => $database ? 'restore' : 'none', 'flushAfter' => $database],
      ], $async, $job, $backupSecrets, $runId);
    });
  }

  private static function holdsDatabase(array $set, string $role): bool {
    foreach ((array) ($set['databases'] ?? []) as $database) {
      if (($database['role'] ?? '') === $role) {
        return TRUE;
      }
    }
    return FALSE;
  }

}
